namespace Orchestrator.Http;

/// <summary>Every log line of the HTTP plumbing (event ids 1100-1199).</summary>
internal static partial class Log
{
    [LoggerMessage(1100, LogLevel.Warning,
        "{Method} {Path} answered 503 (retry after {RetryAfter} s): the database is unavailable ({Failure}: {Message})")]
    public static partial void AnsweredUnavailable(this ILogger logger, string method, string path, int retryAfter, string failure, string message);
}
