namespace Orchestrator.Housekeeping;

/// <summary>Every log line of housekeeping (event ids 900-999).</summary>
internal static partial class Log
{
    [LoggerMessage(900, LogLevel.Warning, "Retention sweep failed; retrying in {Interval}")]
    public static partial void RetentionSweepFailed(this ILogger logger, Exception exception, TimeSpan interval);

    [LoggerMessage(901, LogLevel.Information,
        "Retention removed {Tasks} ended tasks, {Rollouts} ended rollouts, {AuditEvents} audit events and {Certificates} expired " +
        "certificate records")]
    public static partial void RetentionRemoved(this ILogger logger, int tasks, int rollouts, int auditEvents, int certificates);
}
