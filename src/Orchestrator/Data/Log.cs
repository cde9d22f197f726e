namespace Orchestrator.Data;

/// <summary>Every log line of the database (event ids 700-799).</summary>
internal static partial class Log
{
    [LoggerMessage(700, LogLevel.Information, "Applied {Count} database migrations ({Provider})")]
    public static partial void MigrationsApplied(this ILogger logger, int count, string? provider);

    [LoggerMessage(701, LogLevel.Warning, "Could not make the SQLite database {Path} readable by its owner only (0600); check its permissions")]
    public static partial void SqliteFileModeNotSet(this ILogger logger, Exception exception, string path);

    [LoggerMessage(702, LogLevel.Warning,
        "The database did not answer ({Error}: {Message}); heartbeats and task streams stop asking it for work, one asks again every {Seconds} s")]
    public static partial void DatabaseNotAnswering(this ILogger logger, string error, string message, double seconds);

    [LoggerMessage(703, LogLevel.Information, "The database answers again; heartbeats and task streams ask it for work again")]
    public static partial void DatabaseAnswersAgain(this ILogger logger);
}
