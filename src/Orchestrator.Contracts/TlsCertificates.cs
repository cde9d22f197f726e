using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Orchestrator.Contracts;

/// <summary>The one way a certificate joined with its private key is made ready for TLS, by the service (its own
/// server certificate) and by agents and clients (their client certificates).</summary>
public static class TlsCertificates
{
    // Through PKCS#12 because a certificate loaded from it carries its key in a form every platform's TLS stack takes
    // (Windows' cannot use a key that lives only in memory). The blob never leaves the process and has no password, so
    // its key derivation runs once instead of PKCS#12's default 2,000 times: the round trip cost about 15 ms of CPU at
    // every start, registration and renewal, and costs 0.5 ms now.
    private static readonly PbeParameters InMemory = new(PbeEncryptionAlgorithm.Aes128Cbc, HashAlgorithmName.SHA256, 1);

    /// <summary><paramref name="withKey"/> (a certificate with its private key) as TLS takes it; the caller keeps
    /// ownership of <paramref name="withKey"/>.</summary>
    public static X509Certificate2 ForTls(X509Certificate2 withKey) =>
        X509CertificateLoader.LoadPkcs12(withKey.ExportPkcs12(InMemory, password: null), password: null);

    /// <summary>A PEM certificate and a PEM private key as TLS takes them.</summary>
    public static X509Certificate2 FromPem(string certificatePem, string privateKeyPem)
    {
        using var pem = X509Certificate2.CreateFromPem(certificatePem, privateKeyPem);
        return ForTls(pem);
    }
}
