namespace Orchestrator.Certificates;

/// <summary>Every log line of the CA and agent authentication (event ids 300-399).</summary>
internal static partial class Log
{
    [LoggerMessage(300, LogLevel.Information, "Created the agent token signing key {KeyId}")]
    public static partial void TokenSigningKeyCreated(this ILogger logger, string keyId);

    [LoggerMessage(301, LogLevel.Warning, "Reloading the token signing keys failed; keeping the ones loaded")]
    public static partial void TokenSigningKeysReloadFailed(this ILogger logger, Exception exception);

    [LoggerMessage(302, LogLevel.Error, "Reloading certificate revocations failed")]
    public static partial void RevocationsReloadFailed(this ILogger logger, Exception exception);

    /// <summary>The periodic check of the revocation mark found a revocation before its event arrived: usually a lost or
    /// silently dead listening connection (a moment's race with the event is harmless).</summary>
    [LoggerMessage(307, LogLevel.Information,
        "Found {Count} revoked certificates of agent {AgentId} by reloading the revocation list, before their revocation event arrived")]
    public static partial void RevocationsFoundByReload(this ILogger logger, Guid? agentId, int count);

    [LoggerMessage(303, LogLevel.Warning, "Reloading the CA roots failed; keeping the ones loaded")]
    public static partial void CaRootsReloadFailed(this ILogger logger, Exception exception);

    [LoggerMessage(304, LogLevel.Information, "Created the CA root {RootId}, valid until {NotAfter:u}")]
    public static partial void CaRootCreated(this ILogger logger, Guid rootId, DateTime notAfter);

    [LoggerMessage(305, LogLevel.Error, "Renewing the server certificate failed")]
    public static partial void ServerCertificateRenewalFailed(this ILogger logger, Exception exception);

    [LoggerMessage(306, LogLevel.Information, "Server certificate for {HostNames} issued by the CA, valid until {NotAfter:u}")]
    public static partial void ServerCertificateIssued(this ILogger logger, string hostNames, DateTime notAfter);

    /// <summary>A refused agent request: why, whose certificate (when it names an agent) and from where. Never the
    /// token or the certificate itself.</summary>
    [LoggerMessage(310, LogLevel.Warning, "Agent authentication rejected from {RemoteAddress} (agent {AgentId}): {Reason}")]
    public static partial void AgentAuthenticationRejected(this ILogger logger, string? remoteAddress, Guid? agentId, string reason);
}
