using System.Security.Cryptography.X509Certificates;

namespace Orchestrator.Client;

/// <summary>What an agent presents: its certificate (with the private key) and the token bound to that certificate.
/// The two travel together; a token is useless with another certificate.</summary>
public sealed record AgentCredentials(Guid AgentId, X509Certificate2 Certificate, string Token)
{
    public DateTime ExpiresAt => Certificate.NotAfter.ToUniversalTime();

    /// <summary>Certificate PEM + private key PEM as TLS wants them (through PKCS#12, which every platform accepts).</summary>
    public static X509Certificate2 LoadCertificate(string certificatePem, string privateKeyPem)
    {
        using var pem = X509Certificate2.CreateFromPem(certificatePem, privateKeyPem);
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }
}
