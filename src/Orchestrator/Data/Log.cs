namespace Orchestrator.Data;

/// <summary>Every log line of the database (event ids 700-799).</summary>
internal static partial class Log
{
    [LoggerMessage(700, LogLevel.Information, "Applied {Count} database migrations ({Provider})")]
    public static partial void MigrationsApplied(this ILogger logger, int count, string? provider);
}
