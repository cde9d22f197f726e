namespace Orchestrator.ApiKeys;

/// <summary>Every log line of API keys (event ids 200-299).</summary>
internal static partial class Log
{
    [LoggerMessage(200, LogLevel.Information, "Created the bootstrap admin API key from configuration (Orchestrator:Auth:BootstrapAdminKey)")]
    public static partial void BootstrapAdminKeyCreated(this ILogger logger);

    [LoggerMessage(201, LogLevel.Warning, "Generated an admin API key on first start; it is in {KeyFile} (readable by this user only)")]
    public static partial void AdminKeyGenerated(this ILogger logger, string keyFile);

    [LoggerMessage(202, LogLevel.Warning,
        "The configured bootstrap admin key (Orchestrator:Auth:BootstrapAdminKey) has {Length} characters; use at least {Recommended}")]
    public static partial void BootstrapAdminKeyShort(this ILogger logger, int length, int recommended);
}
