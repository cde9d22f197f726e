using Microsoft.Extensions.Options;

namespace Orchestrator.Hosting;

public static class OptionsRegistration
{
    /// <summary>Binds every settings section and validates it when the host starts, so a bad setting stops the
    /// service with a message that names it instead of failing on first use.</summary>
    public static IServiceCollection AddOrchestratorOptions(this IServiceCollection services)
    {
        services.AddOptions<OrchestratorOptions>().BindConfiguration(OrchestratorOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section).ValidateOnStart();
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section)
            .Validate(o => string.IsNullOrEmpty(o.BootstrapAdminKey) || o.BootstrapAdminKey.Length >= 32,
                "Orchestrator:Auth:BootstrapAdminKey must be at least 32 characters.")
            .ValidateOnStart();
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<KeyProtectionOptions>().BindConfiguration(KeyProtectionOptions.Section)
            .Validate(o => string.IsNullOrEmpty(o.CertificatePath) || File.Exists(o.CertificatePath),
                "Orchestrator:KeyProtection:CertificatePath points to a file that does not exist.")
            .ValidateOnStart();
        services.AddOptions<ForwardedClientCertificateOptions>().BindConfiguration(ForwardedClientCertificateOptions.Section)
            .Validate(o => !o.Enabled || !string.IsNullOrWhiteSpace(o.HeaderName),
                "Orchestrator:ForwardedClientCertificate:HeaderName is required when forwarding is enabled.")
            .Validate(o => !o.Enabled || (o.KnownProxies.Length > 0 && o.KnownProxies.All(p => System.Net.IPAddress.TryParse(p, out _))),
                "Orchestrator:ForwardedClientCertificate:KnownProxies must list the proxies' IP addresses when forwarding is enabled.")
            .ValidateOnStart();
        services.AddOptions<LoggingOptions>().BindConfiguration(LoggingOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        services.AddOptions<AgentOptions>().BindConfiguration(AgentOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.HeartbeatInterval > TimeSpan.Zero, "Orchestrator:Agents:HeartbeatInterval must be greater than zero.")
            .Validate(o => o.TaskPollInterval > TimeSpan.Zero, "Orchestrator:Agents:TaskPollInterval must be greater than zero.")
            .Validate(o => o.HeartbeatFlushInterval >= TimeSpan.FromMilliseconds(10) && o.HeartbeatFlushInterval <= TimeSpan.FromSeconds(1),
                "Orchestrator:Agents:HeartbeatFlushInterval must be from 00:00:00.010 to 00:00:01.")
            .ValidateOnStart();

        services.AddOptions<CertificateOptions>().BindConfiguration(CertificateOptions.Section)
            .Validate(o => o.Lifetime > TimeSpan.Zero, "Orchestrator:Certificates:Lifetime must be greater than zero.")
            .Validate(o => o.RenewBefore > TimeSpan.Zero && o.RenewBefore < o.Lifetime,
                "Orchestrator:Certificates:RenewBefore must be greater than zero and less than Orchestrator:Certificates:Lifetime.")
            .Validate(o => o.RootLifetime > o.Lifetime * 2, "Orchestrator:Certificates:RootLifetime must be more than twice Orchestrator:Certificates:Lifetime.")
            .Validate(o => o.ServerLifetime > TimeSpan.FromHours(2), "Orchestrator:Certificates:ServerLifetime must be more than two hours.")
            .Validate(o => o.ServerHostNames.Length > 0 && o.ServerHostNames.All(n => !string.IsNullOrWhiteSpace(n)),
                "Orchestrator:Certificates:ServerHostNames must list at least one host name.")
            .Validate(o => o.ServerCertificatePath is null || File.Exists(o.ServerCertificatePath),
                "Orchestrator:Certificates:ServerCertificatePath points to a file that does not exist.")
            .ValidateOnStart();

        services.AddOptions<TaskOptions>().BindConfiguration(TaskOptions.Section)
            .Validate(o => o.RedeliverAfter > TimeSpan.Zero, "Orchestrator:Tasks:RedeliverAfter must be greater than zero.")
            .Validate(o => o.CancelGracePeriod > TimeSpan.Zero, "Orchestrator:Tasks:CancelGracePeriod must be greater than zero.")
            .Validate(o => o.UndeliveredTimeout > TimeSpan.Zero, "Orchestrator:Tasks:UndeliveredTimeout must be greater than zero.")
            .Validate(o => o.IdleRecheckInterval >= TimeSpan.Zero, "Orchestrator:Tasks:IdleRecheckInterval must not be negative.")
            .Validate(o => o.MonitorInterval > TimeSpan.Zero, "Orchestrator:Tasks:MonitorInterval must be greater than zero.")
            .Validate(o => o.MaxTimeoutSeconds >= 1, "Orchestrator:Tasks:MaxTimeoutSeconds must be at least 1.")
            .Validate(o => o.DefaultTimeoutSeconds >= 1 && o.DefaultTimeoutSeconds <= o.MaxTimeoutSeconds,
                "Orchestrator:Tasks:DefaultTimeoutSeconds must be from 1 to Orchestrator:Tasks:MaxTimeoutSeconds.")
            .Validate(o => o.MaxTasksPerDelivery is >= 1 and <= 1000, "Orchestrator:Tasks:MaxTasksPerDelivery must be from 1 to 1000.")
            .Validate(o => o.MaxPayloadBytes >= 2, "Orchestrator:Tasks:MaxPayloadBytes must be at least 2.")
            .Validate(o => o.MaxCredentialsBytes >= 2, "Orchestrator:Tasks:MaxCredentialsBytes must be at least 2.")
            .Validate(o => o.MaxResultBytes >= 4, "Orchestrator:Tasks:MaxResultBytes must be at least 4.")
            .Validate(o => o.MaxLogLinesPerCompletion >= 0, "Orchestrator:Tasks:MaxLogLinesPerCompletion must not be negative.")
            .Validate(o => o.MaxLogLineLength >= 1, "Orchestrator:Tasks:MaxLogLineLength must be at least 1.")
            .Validate(o => o.MaxStoredLogLines >= 0, "Orchestrator:Tasks:MaxStoredLogLines must not be negative.")
            .ValidateOnStart();

        services.AddOptions<StreamOptions>().BindConfiguration(StreamOptions.Section)
            .Validate(o => o.MaxMessageBytes is >= 1024 and <= 1024 * 1024, "Orchestrator:Streams:MaxMessageBytes must be from 1024 to 1048576.")
            .Validate(o => o.MessagesPerSecond > 0 && o.Burst >= 1, "Orchestrator:Streams:MessagesPerSecond and Orchestrator:Streams:Burst must be positive.")
            .Validate(o => o.KeepAliveInterval > TimeSpan.Zero && o.KeepAliveTimeout > TimeSpan.Zero,
                "Orchestrator:Streams:KeepAliveInterval and Orchestrator:Streams:KeepAliveTimeout must be greater than zero.")
            .ValidateOnStart();

        services.AddOptions<RetentionOptions>().BindConfiguration(RetentionOptions.Section)
            .Validate(o => o.EndedTasks > TimeSpan.Zero && o.AuditEvents > TimeSpan.Zero && o.ExpiredCertificates > TimeSpan.Zero,
                "Orchestrator:Retention periods must be greater than zero.")
            .ValidateOnStart();

        services.AddSingleton<DataDirectory>();
        return services;
    }
}

/// <summary>The resolved, existing data directory.</summary>
public sealed class DataDirectory
{
    public DataDirectory(IOptions<OrchestratorOptions> options, IHostEnvironment environment)
    {
        Path = System.IO.Path.GetFullPath(options.Value.DataDirectory, environment.ContentRootPath);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);
}
