namespace Orchestrator.Certificates;

/// <summary>What the API documentation (Swagger UI, the OpenAPI document) says about each route of this feature, in
/// one place: the summary stays beside its route, the longer description is here.</summary>
internal static class CertificateDocs
{
    public const string TrustBundle =
        "Every root currently trusted: the active one and, after a rotation, older ones while certificates they signed " +
        "are still valid. Pin it before registering.";

    public const string Rotate =
        "A new root signs certificates and a new key signs agent tokens from now on. The old root stays in the bundle and " +
        "trusted until the last certificate it signed has expired, and tokens signed with the old key keep working until " +
        "they expire with their certificate, so agents keep working and move to the new root and key at their next " +
        "renewal.";

    public const string Identity = "Does nothing but authenticate: agents use it to check their certificate and token.";

    public const string Renew =
        "Certifies the same key as the presented certificate, or the key of `csr` (PEM PKCS#10) when sent. The previous " +
        "certificate keeps working until its own expiry.";
}
