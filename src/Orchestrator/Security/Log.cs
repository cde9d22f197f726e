namespace Orchestrator.Security;

/// <summary>Every log line of Security (event ids 1000-1099).</summary>
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Warning,
        "Generated the key-encryption certificate {Path}; back it up with the database " +
        "(set Orchestrator:KeyProtection:CertificatePath when several replicas share the database)")]
    public static partial void KeyEncryptionCertificateGenerated(this ILogger logger, string path);
}
