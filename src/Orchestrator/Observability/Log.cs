namespace Orchestrator.Observability;

/// <summary>Every log line of observability (event ids 1100-1199).</summary>
internal static partial class Log
{
    [LoggerMessage(1100, LogLevel.Warning, "Counting the fleet for metrics failed; the last counts stay until the next pass")]
    public static partial void CensusFailed(this ILogger logger, Exception exception);
}
