using System.Buffers.Text;
using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Orchestrator.Certificates;

/// <summary>What the CA puts in the certificates it makes, and which keys it accepts. Pure functions: no storage,
/// no key custody, so the rules can be read (and reviewed) in one place.</summary>
public static class IssuanceRules
{
    public const string AgentUriPrefix = "urn:orchestrator:agent:";
    public static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");
    public static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");

    /// <summary>Certificates start a little in the past so an agent whose clock runs behind can use them at once.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    /// <summary>A self-signed root: CA, may sign end-entity certificates only (path length 0).</summary>
    public static X509Certificate2 CreateRoot(ECDsa key, Guid rootId, DateTimeOffset now, TimeSpan lifetime)
    {
        var request = new CertificateRequest(
            new X500DistinguishedName($"CN=Orchestrator Root CA {now:yyyy-MM-dd} {rootId.ToString("N")[^8..]}, O=Orchestrator"),
            key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(now - ClockSkew, now + lifetime);
    }

    /// <summary>An agent client certificate: client-auth only, the agent id in a URI SAN (what authentication reads).</summary>
    public static CertificateRequest AgentRequest(Guid agentId, PublicKey publicKey)
    {
        var request = new CertificateRequest(new X500DistinguishedName($"CN={agentId}, O=Orchestrator agents"), publicKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(AgentUriPrefix + agentId.ToString("D")));
        request.CertificateExtensions.Add(san.Build(critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(KeyUsageFor(publicKey), true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ClientAuthentication], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(publicKey, false));
        return request;
    }

    /// <summary>The service's own TLS certificate for the configured DNS names and IP addresses.</summary>
    public static CertificateRequest ServerRequest(IReadOnlyList<string> hostNames, PublicKey publicKey)
    {
        var request = new CertificateRequest(new X500DistinguishedName($"CN={hostNames[0]}, O=Orchestrator"), publicKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        // Configuration binding appends configured array items to the defaults, hence the Distinct.
        foreach (var name in hostNames.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (IPAddress.TryParse(name, out var ip))
            {
                san.AddIpAddress(ip);
            }
            else
            {
                san.AddDnsName(name);
            }
        }

        request.CertificateExtensions.Add(san.Build(critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(KeyUsageFor(publicKey), true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuthentication], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(publicKey, false));
        return request;
    }

    /// <summary>Signs <paramref name="request"/> with the root: validity [now - skew, now + lifetime] (never past the
    /// root's own end), a random 128-bit serial, and the root's key identifier.</summary>
    public static X509Certificate2 Sign(CertificateRequest request, X509Certificate2 root, ECDsa rootKey, DateTimeOffset now, TimeSpan lifetime)
    {
        var notAfter = now + lifetime;
        if (notAfter > root.NotAfter)
        {
            notAfter = root.NotAfter;
        }

        request.CertificateExtensions.Add(
            X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        return request.Create(root.SubjectName, X509SignatureGenerator.CreateForECDsa(rootKey), now - ClockSkew, notAfter, NewSerial());
    }

    /// <summary>What every refusal of a key says: the keys the CA certifies.</summary>
    public const string AcceptedKeys = "use an ECDSA P-256 or P-384 key (named curve), or an RSA key of at least 2048 bits";

    private const string EcPublicKey = "1.2.840.10045.2.1";
    private const string RsaEncryption = "1.2.840.113549.1.1.1";
    private static readonly HashSet<string> AcceptedCurves = ["1.2.840.10045.3.1.7", "1.3.132.0.34"]; // P-256, P-384

    /// <summary>Reads a PEM PKCS#10 request, verifying its signature, and returns its key if the CA accepts it
    /// (ECDSA P-256/P-384 or RSA of at least 2048 bits); otherwise says why not. The key's algorithm is read from
    /// the DER before the platform parses the request: the platform throws on keys it does not support (Ed25519,
    /// Ed448) and on curves given by explicit parameters, so they are refused by name first.</summary>
    public static bool TryReadCsr(string pem, out PublicKey? publicKey, out string error)
    {
        publicKey = null;
        const string invalid = "'csr' is not a valid PEM PKCS#10 certificate request with a good signature.";
        var algorithm = ReadKeyAlgorithm(pem);
        if (algorithm is null)
        {
            error = invalid;
            return false;
        }

        var (oid, curve) = algorithm.Value;
        if (oid is not (EcPublicKey or RsaEncryption) || (oid == EcPublicKey && (curve is null || !AcceptedCurves.Contains(curve))))
        {
            error = $"'csr' holds a key the CA does not certify; {AcceptedKeys}.";
            return false;
        }

        CertificateRequest request;
        try
        {
            // Signature verification is the default: the requester proves it holds the key.
            request = CertificateRequest.LoadSigningRequestPem(pem, HashAlgorithmName.SHA256,
                CertificateRequestLoadOptions.Default);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or AsnContentException)
        {
            error = invalid;
            return false;
        }
        catch (NotSupportedException)
        {
            // An accepted key with a signature algorithm the platform cannot verify (RSA-PSS with odd parameters).
            error = $"'csr' is signed with an algorithm the CA cannot verify; {AcceptedKeys}, signed with SHA-256, SHA-384 or SHA-512.";
            return false;
        }

        if (oid == RsaEncryption)
        {
            using var rsa = request.PublicKey.GetRSAPublicKey();
            if (rsa is null || rsa.KeySize < 2048)
            {
                error = $"'csr' holds an RSA key shorter than 2048 bits; {AcceptedKeys}.";
                return false;
            }
        }

        publicKey = request.PublicKey;
        error = string.Empty;
        return true;
    }

    /// <summary>The SubjectPublicKeyInfo algorithm of a PEM PKCS#10 request and, for EC keys, the named curve (null
    /// when the curve is given by explicit parameters); null when it is not such a request.</summary>
    private static (string Oid, string? Curve)? ReadKeyAlgorithm(string pem)
    {
        try
        {
            if (!PemEncoding.TryFind(pem, out var fields) ||
                pem[fields.Label] is not ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST"))
            {
                return null;
            }

            var der = Convert.FromBase64String(pem[fields.Base64Data].ToString());
            var request = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
            var info = request.ReadSequence();
            info.ReadInteger(); // version
            info.ReadSequence(); // subject
            var algorithm = info.ReadSequence().ReadSequence();
            var oid = algorithm.ReadObjectIdentifier();
            string? curve = null;
            if (algorithm.HasData && algorithm.PeekTag() == Asn1Tag.ObjectIdentifier)
            {
                curve = algorithm.ReadObjectIdentifier();
            }

            return (oid, curve);
        }
        catch (Exception ex) when (ex is AsnContentException or FormatException)
        {
            return null;
        }
    }

    /// <summary>The agent id from the <c>urn:orchestrator:agent:&lt;id&gt;</c> URI SAN, if there is exactly one.</summary>
    public static Guid? AgentIdOf(X509Certificate2 certificate)
    {
        Guid? found = null;
        foreach (var extension in certificate.Extensions)
        {
            if (extension is not X509SubjectAlternativeNameExtension)
            {
                continue;
            }

            foreach (var uri in ReadUris(extension.RawData))
            {
                if (uri.StartsWith(AgentUriPrefix, StringComparison.Ordinal) && Guid.TryParseExact(uri[AgentUriPrefix.Length..], "D", out var id))
                {
                    if (found is not null)
                    {
                        return null;
                    }

                    found = id;
                }
            }
        }

        return found;
    }

    /// <summary>base64url SHA-256 of the DER certificate: the RFC 8705 <c>x5t#S256</c> confirmation.</summary>
    public static string ThumbprintOf(X509Certificate2 certificate) => Base64Url.EncodeToString(SHA256.HashData(certificate.RawDataMemory.Span));

    private static X509KeyUsageFlags KeyUsageFor(PublicKey key) =>
        key.Oid.Value == "1.2.840.113549.1.1.1"
            ? X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment
            : X509KeyUsageFlags.DigitalSignature;

    private static byte[] NewSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        // Positive (high bit clear) and without a leading zero byte, so the DER encoding keeps all 16 bytes.
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);
        return serial;
    }

    private static IEnumerable<string> ReadUris(byte[] rawSan)
    {
        var uris = new List<string>();
        try
        {
            var reader = new AsnReader(rawSan, AsnEncodingRules.DER);
            var sequence = reader.ReadSequence();
            var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
            while (sequence.HasData)
            {
                var tag = sequence.PeekTag();
                if (tag == uriTag)
                {
                    uris.Add(sequence.ReadCharacterString(UniversalTagNumber.IA5String, uriTag));
                }
                else
                {
                    sequence.ReadEncodedValue();
                }
            }
        }
        catch (AsnContentException)
        {
            return [];
        }

        return uris;
    }
}
