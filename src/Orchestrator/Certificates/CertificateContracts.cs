namespace Orchestrator.Certificates;

// The certificate endpoints' wire records, nested in CertificateEndpoints so their published OpenAPI schema names stay
// as they are.
public static partial class CertificateEndpoints
{
    public sealed record RotatedResponse(Guid RootId, string Certificate, DateTime NotAfter, Guid[] RetiredRootIds, string TokenSigningKeyId);

    public sealed record RenewRequest(string? Csr);

    /// <summary>The renewal answer (also the heartbeat's <c>certificateRenewal</c>): <c>key</c> is null, since
    /// renewal certifies the agent's current key, or the key of the CSR it sent.</summary>
    public sealed record RenewalResponse(string Cert, string? Key, string Ca, DateTime ExpiresAt, string Token)
    {
        public static RenewalResponse From(IssuedCredentials issued) =>
            new(issued.CertificatePem, issued.PrivateKeyPem, issued.CaPem, issued.ExpiresAt, issued.Token);
    }

    public sealed record IdentityResponse(Guid AgentId, string CertificateSerial, DateTime CertificateExpiresAt);
}
