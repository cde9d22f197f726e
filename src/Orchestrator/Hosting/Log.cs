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

    [LoggerMessage(404, LogLevel.Error, "A cluster event on {Channel} is {Length} bytes, over PostgreSQL's NOTIFY limit; only this replica heard it")]
    public static partial void ClusterEventTooLarge(this ILogger logger, string channel, int length);

    [LoggerMessage(405, LogLevel.Warning, "Sending {Count} cluster events failed; retrying until they go out")]
    public static partial void ClusterEventsNotSent(this ILogger logger, Exception exception, int count);

    [LoggerMessage(406, LogLevel.Information, "Cluster events are being sent again after {Failures} failed attempts")]
    public static partial void ClusterEventsSendingAgain(this ILogger logger, int failures);

    [LoggerMessage(407, LogLevel.Warning,
        "This replica's clock differs from the database's by {Seconds:F1} s (more than {Bound:F1} s); it keeps the database's time")]
    public static partial void ClockDiffersFromDatabase(this ILogger logger, double seconds, double bound);

    [LoggerMessage(408, LogLevel.Warning, "Could not compare this replica's clock with the database's; it keeps its own")]
    public static partial void ClockCheckFailed(this ILogger logger, Exception exception);
}
