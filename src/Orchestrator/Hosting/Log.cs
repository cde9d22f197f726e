namespace Orchestrator.Hosting;

/// <summary>Every log line of the shared infrastructure (event ids 400-499).</summary>
internal static partial class Log
{
    [LoggerMessage(400, LogLevel.Error, "A handler of cluster channel {Channel} failed")]
    public static partial void ClusterHandlerFailed(this ILogger logger, Exception exception, string channel);

    [LoggerMessage(401, LogLevel.Error, "A resync handler of cluster channel {Channel} failed")]
    public static partial void ClusterResyncHandlerFailed(this ILogger logger, Exception exception, string channel);

    [LoggerMessage(402, LogLevel.Information, "Cluster event listener reconnected and resynchronised")]
    public static partial void ClusterListenerReconnected(this ILogger logger);

    [LoggerMessage(403, LogLevel.Warning, "Cluster event listener lost its connection; retrying in 1 s")]
    public static partial void ClusterListenerLost(this ILogger logger, Exception exception);
}
