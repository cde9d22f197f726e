namespace Orchestrator.Streams;

/// <summary>Every log line of the task streams (event ids 500-599).</summary>
internal static partial class Log
{
    [LoggerMessage(500, LogLevel.Information, "Agent {AgentId} opened its task stream")]
    public static partial void StreamOpened(this ILogger logger, Guid agentId);

    [LoggerMessage(501, LogLevel.Information, "Agent {AgentId}'s task stream closed")]
    public static partial void StreamClosed(this ILogger logger, Guid agentId);

    [LoggerMessage(502, LogLevel.Warning, "Agent {AgentId} flooded its task stream; closing it")]
    public static partial void StreamFlooded(this ILogger logger, Guid agentId);

    [LoggerMessage(503, LogLevel.Error, "Could not record a stream message of agent {AgentId}")]
    public static partial void StreamMessageNotRecorded(this ILogger logger, Exception exception, Guid agentId);

    [LoggerMessage(504, LogLevel.Warning, "Could not take work for agent {AgentId}'s stream")]
    public static partial void StreamTakeFailed(this ILogger logger, Exception exception, Guid agentId);

    [LoggerMessage(505, LogLevel.Error, "Agent {AgentId}'s task stream failed")]
    public static partial void StreamFailed(this ILogger logger, Exception exception, Guid agentId);

    [LoggerMessage(506, LogLevel.Warning, "Task streams keep their TLS record buffers (about 33 KiB each): {Reason}")]
    public static partial void TlsBuffersKept(this ILogger logger, string reason);
}
