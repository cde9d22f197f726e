namespace Orchestrator.Data;

/// <summary>Every log line of the database (event ids 700-799).</summary>
internal static partial class Log
{
    [LoggerMessage(700, LogLevel.Information, "Applied {Count} database migrations ({Provider})")]
    public static partial void MigrationsApplied(this ILogger logger, int count, string? provider);

    [LoggerMessage(701, LogLevel.Warning, "Could not make the SQLite database {Path} readable by its owner only (0600); check its permissions")]
    public static partial void SqliteFileModeNotSet(this ILogger logger, Exception exception, string path);
}
