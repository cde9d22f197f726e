namespace Orchestrator.Certificates;

/// <summary>What the API documentation (Swagger UI, the OpenAPI document) says about each route of this feature, in
/// one place: the summary stays beside its route, the longer description is here.</summary>
internal static class CertificateDocs
{
    public const string TrustBundle =
        "Every root currently trusted: the active one and, after a rotation, older ones while certificates they signed " +
        "are still valid. Pin it before registering.";

    public const string Rotate =
        "Prepare, activate, retire: the new root is published in the trust bundle at once and starts signing at " +
        "`activatesAt`, one agent certificate lifetime later, when every agent has renewed and so holds the bundle with " +
        "it (agents and replicas that restart meanwhile keep using the active root). The old root then stops signing and " +
        "stays in the bundle until the last certificate it signed has expired. A new key signs agent tokens at once; " +
        "tokens signed with the old key keep working until they expire with their certificate. A rotation while another " +
        "is waiting to activate: 409.";

    public const string Identity = "Does nothing but authenticate: agents use it to check their certificate and token.";

    public const string Renew =
        "Certifies the same key as the presented certificate, or the key of `csr` (PEM PKCS#10) when sent. The previous " +
        "certificate keeps working until its own expiry. 401, with nothing issued, when the agent's credentials were revoked " +
        "or the agent deleted while the request was under way.";
}
