using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orchestrator.Contracts;

namespace Orchestrator.Client;

/// <summary>Agent keys stay on the agent: it makes an ECDSA P-256 key and sends only a CSR for it.</summary>
public static class CertificateRequests
{
    public static ECDsa NewKey() => ECDsa.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>A PEM PKCS#10 request for <paramref name="key"/>; the server sets subject, lifetime and extensions itself.</summary>
    public static string CreatePem(ECDsa key, string agentName) =>
        new CertificateRequest(new X500DistinguishedName($"CN={Escape(agentName)}"), key, HashAlgorithmName.SHA256)
            .CreateSigningRequestPem();

    /// <summary>The certificate of a registration or renewal answer joined with the key the agent kept.</summary>
    public static X509Certificate2 WithKey(string certificatePem, ECDsa key)
    {
        using var certificate = X509Certificate2.CreateFromPem(certificatePem);
        using var withKey = certificate.CopyWithPrivateKey(key);
        return TlsCertificates.ForTls(withKey);
    }

    private static string Escape(string name) => name.Replace("\\", "\\\\", StringComparison.Ordinal).Replace(",", "\\,", StringComparison.Ordinal)
        .Replace("=", "\\=", StringComparison.Ordinal).Replace("+", "\\+", StringComparison.Ordinal);
}
