using System.ComponentModel.DataAnnotations;

namespace Orchestrator.Hosting;

/// <summary>Root settings (<c>Orchestrator:*</c>). Sections with their own rules live in their own classes.</summary>
public sealed class OrchestratorOptions
{
    public const string Section = "Orchestrator";

    /// <summary>Where the SQLite file, the generated admin key file and other local state live.
    /// Relative paths are resolved against the content root (the binary's folder), never the working directory.</summary>
    [Required(AllowEmptyStrings = false)]
    public string DataDirectory { get; set; } = "data";

    /// <summary>Largest request body accepted, in bytes.</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public long MaxRequestBodyBytes { get; set; } = 1024 * 1024;

    public bool SwaggerEnabled { get; set; } = true;
}

public enum DatabaseProvider
{
    Sqlite,
    Postgres,
}

public sealed class DatabaseOptions
{
    public const string Section = "Orchestrator:Database";

    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;
}

public sealed class AgentOptions
{
    public const string Section = "Orchestrator:Agents";

    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);
    public TimeSpan TaskPollInterval { get; set; } = TimeSpan.FromSeconds(5);

    [RegularExpression("^(trace|debug|info|warn|error)$", ErrorMessage = "Orchestrator:Agents:LogLevel must be one of trace, debug, info, warn, error.")]
    public string LogLevel { get; set; } = "info";

    [Range(1, 100, ErrorMessage = "Orchestrator:Agents:MissedHeartbeats must be between 1 and 100.")]
    public int MissedHeartbeats { get; set; } = 3;

    /// <summary>How often buffered heartbeats (<c>lastHeartbeat</c>, resource usage) are written; a crash loses at
    /// most this much of them. Status changes never wait for it.</summary>
    public TimeSpan HeartbeatFlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long without a heartbeat before an agent is offline.</summary>
    public TimeSpan OfflineAfter => HeartbeatInterval * MissedHeartbeats;
}

public sealed class CertificateOptions
{
    public const string Section = "Orchestrator:Certificates";

    /// <summary>Lifetime of agent client certificates.</summary>
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromDays(1);

    /// <summary>An agent certificate this close to expiry is renewed by the next heartbeat.</summary>
    public TimeSpan RenewBefore { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Lifetime of a CA root.</summary>
    public TimeSpan RootLifetime { get; set; } = TimeSpan.FromDays(3650);

    /// <summary>Lifetime of the server TLS certificate issued by the CA.</summary>
    public TimeSpan ServerLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>DNS names and IP addresses the server certificate is issued for. The defaults (localhost,
    /// 127.0.0.1) are in appsettings.json: the binder appends configured items to an initialised array, so a default
    /// here could never be replaced.</summary>
    public string[] ServerHostNames { get; set; } = [];

    /// <summary>Optional PFX for Kestrel; when set the CA does not issue the server certificate.</summary>
    public string? ServerCertificatePath { get; set; }
    public string? ServerCertificatePassword { get; set; }
}

public sealed class AuthOptions
{
    public const string Section = "Orchestrator:Auth";

    /// <summary>An admin API key that exists from the first start. When unset one is generated into the data directory.</summary>
    public string? BootstrapAdminKey { get; set; }
}

public sealed class RateLimitOptions
{
    public const string Section = "Orchestrator:RateLimits";

    [Range(1, 1_000_000, ErrorMessage = "Orchestrator:RateLimits:RegistrationsPerMinute must be between 1 and 1000000.")]
    public int RegistrationsPerMinute { get; set; } = 60;
}

public sealed class TaskOptions
{
    public const string Section = "Orchestrator:Tasks";

    /// <summary>A delivered task the agent has not started is delivered again after this long.</summary>
    public TimeSpan RedeliverAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>A task no agent collected within this long ends <c>timed_out</c>, so a task for an agent that never
    /// returns still reaches a final state (24 h, like a queued CI job).</summary>
    public TimeSpan UndeliveredTimeout { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long a cancelling task waits for the agent's confirmation before it ends cancelled anyway.</summary>
    public TimeSpan CancelGracePeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Longest time a replica answers an idle agent's heartbeats from memory before reading its tasks again.
    /// New and cancelled tasks reach it at once through task events; this only bounds the delay a lost event causes.</summary>
    public TimeSpan IdleRecheckInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the monitor ends overdue tasks (timeouts, cancellation grace).</summary>
    public TimeSpan MonitorInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Timeout of a task created without one, in seconds (the spec's example: 300).</summary>
    public int DefaultTimeoutSeconds { get; set; } = 300;

    /// <summary>Largest timeout a task may ask for, in seconds.</summary>
    public int MaxTimeoutSeconds { get; set; } = 24 * 60 * 60;

    /// <summary>Most tasks handed out in one heartbeat or poll answer; the rest follow in the next.</summary>
    public int MaxTasksPerDelivery { get; set; } = 20;

    /// <summary>Largest task payload, in bytes of JSON.</summary>
    public int MaxPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>Largest credentials map, in bytes of JSON.</summary>
    public int MaxCredentialsBytes { get; set; } = 16 * 1024;

    /// <summary>Largest completion result, in bytes of JSON.</summary>
    public int MaxResultBytes { get; set; } = 64 * 1024;

    /// <summary>Most log lines in one completion.</summary>
    public int MaxLogLinesPerCompletion { get; set; } = 1000;

    /// <summary>Longest log line, in characters.</summary>
    public int MaxLogLineLength { get; set; } = 8 * 1024;

    /// <summary>Most log lines kept per task; later lines are counted and dropped.</summary>
    public int MaxStoredLogLines { get; set; } = 5000;
}

public sealed class KeyProtectionOptions
{
    public const string Section = "Orchestrator:KeyProtection";

    /// <summary>PFX whose key encrypts the Data Protection key ring. Required with several replicas.</summary>
    public string? CertificatePath { get; set; }
    public string? CertificatePassword { get; set; }
}

/// <summary>Client certificates forwarded by a TLS-terminating proxy (opt-in, trusted proxies only).</summary>
public sealed class ForwardedClientCertificateOptions
{
    public const string Section = "Orchestrator:ForwardedClientCertificate";

    public bool Enabled { get; set; }

    /// <summary>Header carrying the certificate: URL-encoded PEM (nginx <c>$ssl_client_escaped_cert</c>), PEM,
    /// base64 DER, or Envoy's <c>x-forwarded-client-cert</c> with a <c>Cert="..."</c> element.</summary>
    public string HeaderName { get; set; } = "X-Forwarded-Client-Cert";

    /// <summary>Addresses of the proxies whose header is believed; from anyone else the header is ignored.</summary>
    public string[] KnownProxies { get; set; } = [];
}

public sealed class LoggingOptions
{
    public const string Section = "Orchestrator:Logging";

    /// <summary><c>console</c> (human readable) or <c>json</c> (one compact JSON object per line).</summary>
    [RegularExpression("^(console|json)$", ErrorMessage = "Orchestrator:Logging:Format must be 'console' or 'json'.")]
    public string Format { get; set; } = "console";

    /// <summary>False turns the console sink off (sinks from Serilog configuration remain).</summary>
    public bool Console { get; set; } = true;
}

public sealed class RetentionOptions
{
    public const string Section = "Orchestrator:Retention";

    public TimeSpan EndedTasks { get; set; } = TimeSpan.FromDays(30);
    public TimeSpan AuditEvents { get; set; } = TimeSpan.FromDays(365);
    public TimeSpan ExpiredCertificates { get; set; } = TimeSpan.FromDays(7);
}

public sealed class StreamOptions
{
    public const string Section = "Orchestrator:Streams";

    /// <summary>Largest message an agent may send on its task stream; a larger one closes the stream (1009).</summary>
    public int MaxMessageBytes { get; set; } = 16 * 1024;

    /// <summary>Sustained messages per second an agent may send; a flood past <see cref="Burst"/> closes the stream (1008).</summary>
    public double MessagesPerSecond { get; set; } = 50;

    public int Burst { get; set; } = 200;

    /// <summary>How often the server pings an idle stream.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A stream whose peer does not answer a ping within this long is closed and cleaned up.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
