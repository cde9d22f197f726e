namespace Orchestrator.Agents;

/// <summary>Every log line of the agent registry (event ids 100-199).</summary>
internal static partial class Log
{
    [LoggerMessage(100, LogLevel.Information,
        "Agent {AgentName} ({AgentId}) deleted by {Actor}: {Certificates} certificates revoked, {Targets} targets unassigned")]
    public static partial void AgentDeleted(this ILogger logger, string agentName, Guid agentId, string actor, int certificates, int targets);

    [LoggerMessage(101, LogLevel.Information, "Agent {AgentName} ({AgentId}) is {Status} (heartbeat)")]
    public static partial void AgentStatusCorrected(this ILogger logger, string agentName, Guid agentId, AgentStatus status);

    [LoggerMessage(102, LogLevel.Error, "Heartbeat flush failed; retrying at the next tick")]
    public static partial void HeartbeatFlushFailed(this ILogger logger, Exception exception);

    [LoggerMessage(103, LogLevel.Warning, "Writing {Count} buffered heartbeats failed; they stay buffered for the next flush")]
    public static partial void BufferedHeartbeatsNotWritten(this ILogger logger, Exception exception, int count);

    [LoggerMessage(104, LogLevel.Information, "Agent {AgentId} is {Status} (was {PreviousStatus})")]
    public static partial void AgentStatusChanged(this ILogger logger, Guid agentId, AgentStatus status, AgentStatus previousStatus);

    [LoggerMessage(105, LogLevel.Warning, "Liveness check failed; retrying on the next tick")]
    public static partial void LivenessCheckFailed(this ILogger logger, Exception exception);

    [LoggerMessage(106, LogLevel.Warning, "Agent {AgentName} ({AgentId}) is offline: no heartbeat since {LastHeartbeat:O} ({Missed} intervals)")]
    public static partial void AgentOffline(this ILogger logger, string agentName, Guid agentId, DateTime? lastHeartbeat, int missed);
}
