using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Orchestrator.Client;

/// <summary>The CA bundle the server's certificate must chain to. Pinned from a PEM file, or from the server's
/// <c>GET /api/v1/ca</c> on first contact when its SHA-256 fingerprint is known beforehand (as
/// <c>kubeadm join --discovery-token-ca-cert-hash</c> does). Nothing else is trusted: not the system store, and never
/// "accept any certificate".
/// <para>The pin follows a CA rotation: a bundle the server sends over a connection this trust already accepted (with a
/// certificate renewal, or <see cref="CaApi.RefreshTrustAsync"/>) replaces the pinned one (<see cref="Adopt"/>), so
/// new connections accept the new root once the server presents a certificate from it. A bundle from anywhere else is
/// never adopted: a server that is not trusted yet cannot move the pin.</para></summary>
public sealed class ServerTrust
{
    // Roots and their PEM change together on adoption; handshakes read one snapshot.
    private volatile Pinned _pinned;

    private ServerTrust(Pinned pinned) => _pinned = pinned;

    /// <summary>The pinned bundle as PEM (what an agent keeps in its state directory).</summary>
    public string BundlePem => _pinned.Pem;

    public IReadOnlyList<X509Certificate2> Roots => [.. _pinned.Roots];

    public static ServerTrust FromPem(string pem) => new(Pinned.Parse(pem));

    /// <summary>Pins <paramref name="bundlePem"/> in place of the current bundle, for connections opened from now on
    /// (open ones were checked already). Only for a bundle received over a connection this trust accepted: the client
    /// calls it itself with the bundle of a renewal and of <see cref="CaApi.RefreshTrustAsync"/>. Returns whether the
    /// bundle differed; an empty or malformed bundle throws and leaves the pin as it was.</summary>
    public bool Adopt(string bundlePem)
    {
        var next = Pinned.Parse(bundlePem);
        var current = _pinned;
        if (current.SameRootsAs(next))
        {
            return false;
        }

        _pinned = next;
        return true;
    }

    public static ServerTrust FromFile(string path) => FromPem(File.ReadAllText(path));

    /// <summary>Fetches the server's CA bundle and pins it if one of its roots has the given fingerprint
    /// (<c>sha256:HEX</c>: the SHA-256 of the root certificate, as <c>openssl x509 -fingerprint -sha256</c> prints it, or
    /// of its public key info, as kubeadm's discovery hash). The server's own certificate must then chain to the bundle.
    /// The one unauthenticated read is of public data that is checked against the fingerprint before it is used.</summary>
    public static async Task<ServerTrust> PinByFingerprintAsync(Uri server, string fingerprint, CancellationToken cancellationToken = default)
    {
        var expected = ParseFingerprint(fingerprint);
        X509Certificate2? presented = null;
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                // Nothing is trusted yet: remember what the server showed and judge it below, once the bundle it sends
                // has been checked against the fingerprint. A name mismatch is refused at once.
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    presented = certificate is null ? null : new X509Certificate2(certificate);
                    return certificate is not null && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0;
                },
            },
        };
        using var http = new HttpClient(handler) { BaseAddress = server, Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/ca");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/x-pem-file"));
        using var response = await http.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"Could not fetch the CA bundle from {server}: {(int)response.StatusCode} {response.ReasonPhrase}.");
        }

        var trust = FromPem(await response.Content.ReadAsStringAsync(cancellationToken));
        if (!trust._pinned.Roots.Any(root => Matches(root, expected)))
        {
            throw new ServerTrustException($"No CA certificate of {server} has the fingerprint {fingerprint}; refusing to trust it.");
        }

        if (presented is null || !trust.Chains(presented, null))
        {
            throw new ServerTrustException($"The certificate of {server} does not chain to its CA bundle; refusing to trust it.");
        }

        return trust;
    }

    /// <summary>The SHA-256 fingerprint of a certificate as this class reads it: <c>sha256:</c> and lowercase hex.</summary>
    public static string FingerprintOf(X509Certificate2 certificate) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));

    /// <summary>The server certificate check for <see cref="SslClientAuthenticationOptions"/>: the host name must match
    /// and the chain must end in one of the pinned roots.</summary>
    public RemoteCertificateValidationCallback ValidationCallback => (_, certificate, chain, errors) =>
        certificate is not null &&
        (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) == 0 &&
        Chains(certificate as X509Certificate2 ?? new X509Certificate2(certificate), chain);

    private bool Chains(X509Certificate2 certificate, X509Chain? presented)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_pinned.Roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return chain.Build(certificate);
    }

    private static bool Matches(X509Certificate2 root, byte[] expected) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(root.RawData), expected) ||
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(root.PublicKey.ExportSubjectPublicKeyInfo()), expected);

    /// <summary>Accepts <c>sha256:HEX</c>, with or without colons between byte pairs, any case.</summary>
    public static byte[] ParseFingerprint(string fingerprint)
    {
        const string prefix = "sha256:";
        var hex = fingerprint.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? fingerprint[prefix.Length..] : null;
        hex = hex?.Replace(":", "", StringComparison.Ordinal);
        if (hex is not { Length: 64 } || !hex.All(Uri.IsHexDigit))
        {
            throw new ArgumentException("A CA fingerprint is 'sha256:' followed by 64 hexadecimal digits.", nameof(fingerprint));
        }

        return Convert.FromHexString(hex);
    }

    private sealed record Pinned(X509Certificate2Collection Roots, string Pem)
    {
        public static Pinned Parse(string pem)
        {
            var roots = new X509Certificate2Collection();
            try
            {
                roots.ImportFromPem(pem);
            }
            catch (CryptographicException ex)
            {
                throw new ArgumentException($"The CA bundle is not valid PEM: {ex.Message}", nameof(pem), ex);
            }

            return roots.Count == 0 ? throw new ArgumentException("The CA bundle holds no certificate.", nameof(pem)) : new Pinned(roots, pem);
        }

        public bool SameRootsAs(Pinned other) =>
            Roots.Select(r => r.Thumbprint).Order(StringComparer.Ordinal).SequenceEqual(other.Roots.Select(r => r.Thumbprint).Order(StringComparer.Ordinal));
    }
}

/// <summary>The server could not be trusted: its CA does not match what was pinned.</summary>
public sealed class ServerTrustException(string message) : Exception(message);
