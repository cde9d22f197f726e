namespace Orchestrator.Certificates;

/// <summary>A CA root. The private key is encrypted with Data Protection, whose key ring is shared through the database.
/// A root is <b>prepared</b> (published in the trust bundle, not signing) until <see cref="ActivatesAt"/>, then
/// <b>active</b> (signing) until <see cref="RetiredAt"/>, then <b>retired</b> (trusted while certificates it signed
/// live). The states follow from the clock, so every replica agrees without a job flipping them.</summary>
public sealed class CaRoot
{
    public Guid Id { get; set; }
    public required string CertificatePem { get; set; }
    public required string ProtectedPrivateKey { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime NotAfter { get; set; }

    /// <summary>When it starts signing; null for a root that signed from its creation (the first one).</summary>
    public DateTime? ActivatesAt { get; set; }

    /// <summary>When the next root takes over signing (that root's <see cref="ActivatesAt"/>); set at the rotation.</summary>
    public DateTime? RetiredAt { get; set; }
}

/// <summary>Every certificate the CA issued. Revocation and agent authentication are decided from these rows.</summary>
public sealed class IssuedCertificate
{
    /// <summary>Serial number, upper-case hex.</summary>
    public required string Serial { get; set; }
    public Guid? AgentId { get; set; }
    public CertificateKind Kind { get; set; }
    public Guid RootId { get; set; }

    /// <summary>base64url SHA-256 of the DER certificate (the RFC 8705 <c>x5t#S256</c>).</summary>
    public required string Thumbprint { get; set; }
    public DateTime NotBefore { get; set; }
    public DateTime NotAfter { get; set; }
    public DateTime IssuedAt { get; set; }
    public DateTime? RevokedAt { get; set; }
}

/// <summary>The revocation high-water mark: one row whose <see cref="Version"/> every transaction that revokes agent
/// certificates moves on before it commits. Replicas compare it with the version their revocation list was loaded at,
/// every few seconds, so a revocation whose event never reached them (a silently dead listening connection) is still
/// loaded within that period. A counter in the revoking transaction, not the newest <c>RevokedAt</c>: timestamps come
/// from the replicas' clocks and commit out of order, so a later commit may carry an earlier time.</summary>
public sealed class RevocationMark
{
    /// <summary>The one row's key.</summary>
    public const int SingletonId = 1;

    public int Id { get; set; }
    public long Version { get; set; }
}

public enum CertificateKind
{
    Agent,
    Server,
}

/// <summary>An ES256 key that signs agent tokens, named by <c>kid</c>.</summary>
public sealed class SigningKey
{
    public required string Id { get; set; }
    public required string ProtectedPrivateKey { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? RetiredAt { get; set; }
}
