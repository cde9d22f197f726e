using System.Security.Cryptography.X509Certificates;
using Orchestrator.Contracts;

namespace Orchestrator.Client;

/// <summary>What an agent presents: its certificate (with the private key) and the token bound to that certificate.
/// The two travel together; a token is useless with another certificate.</summary>
public sealed record AgentCredentials(Guid AgentId, X509Certificate2 Certificate, string Token)
{
    public DateTime ExpiresAt => Certificate.NotAfter.ToUniversalTime();

    /// <summary>Certificate PEM + private key PEM as TLS wants them.</summary>
    public static X509Certificate2 LoadCertificate(string certificatePem, string privateKeyPem) =>
        TlsCertificates.FromPem(certificatePem, privateKeyPem);
}
