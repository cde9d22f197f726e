using System.ComponentModel.DataAnnotations;
using System.Data.Common;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Orchestrator.Hosting;

public enum DatabaseProvider
{
    Sqlite,
    Postgres,
}

/// <summary><c>Orchestrator:Database</c>. The PostgreSQL limits apply unless the connection string sets them itself
/// (a value in the connection string wins). They are chosen for an agent API on a default PostgreSQL: see
/// docs/deployment.md, "Database connections".</summary>
public sealed class DatabaseOptions : IValidatableObject
{
    public const string Section = "Orchestrator:Database";

    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>Pooled connections per replica (Npgsql <c>Maximum Pool Size</c>). Each replica also holds one
    /// connection that listens for the other replicas' events and one that sends its own: 32 at the default, so two
    /// replicas take 64 of a default PostgreSQL's 100 (97 for applications), leaving room for a third or for
    /// operators. A request that finds the pool busy waits up to <see cref="ConnectTimeout"/> for a connection, then
    /// answers 503 with Retry-After: the pool is the service's limit on concurrent database work.</summary>
    public int MaxPoolSize { get; set; } = 30;

    /// <summary>How long opening a connection, or waiting for a free one in the pool, may take (Npgsql <c>Timeout</c>).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one statement may wait for its answer (Npgsql <c>Command Timeout</c>; Npgsql's own default is
    /// 30 s). A database that accepts connections but answers nothing (a table locked by another session, a stopped
    /// server) would otherwise hold requests and the liveness monitor as long as it lasts; after this the statement is
    /// cancelled and the request answers 503 with Retry-After. Migrations and retention sweeps, which may rightly take
    /// long, run with <see cref="DatabaseConnection.MaintenanceCommandTimeout"/>.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>PostgreSQL: whether a replica whose clock differs from the database's by more than
    /// <see cref="MaxClockSkew"/> keeps the database's time (<see cref="DatabaseClock"/>). Replicas judge liveness and
    /// timeouts on each other's timestamps, so they must agree on the time.</summary>
    public bool AlignClock { get; set; } = true;

    /// <summary>How far a replica's clock may be from the database's before it warns and keeps the database's time:
    /// clocks synchronised by NTP differ by milliseconds, and a second is well inside a heartbeat interval.</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromSeconds(1);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (MaxPoolSize is < 2 or > 1000)
        {
            yield return new ValidationResult("Orchestrator:Database:MaxPoolSize must be from 2 to 1000.");
        }

        if (ConnectTimeout < TimeSpan.FromSeconds(1) || ConnectTimeout > TimeSpan.FromMinutes(5))
        {
            yield return new ValidationResult("Orchestrator:Database:ConnectTimeout must be from 00:00:01 to 00:05:00.");
        }

        if (CommandTimeout < TimeSpan.FromSeconds(1) || CommandTimeout > TimeSpan.FromMinutes(5))
        {
            yield return new ValidationResult("Orchestrator:Database:CommandTimeout must be from 00:00:01 to 00:05:00.");
        }

        if (MaxClockSkew < TimeSpan.FromMilliseconds(100) || MaxClockSkew > TimeSpan.FromHours(1))
        {
            yield return new ValidationResult("Orchestrator:Database:MaxClockSkew must be from 00:00:00.1 to 01:00:00.");
        }
    }
}

[OptionsValidator]
internal sealed partial class DatabaseOptionsValidator : IValidateOptions<DatabaseOptions>;

/// <summary>The connection string in force: <c>ConnectionStrings:Orchestrator</c>, or for SQLite a file in the data directory.</summary>
public sealed class DatabaseConnection
{
    public DatabaseConnection(IConfiguration configuration, IOptions<DatabaseOptions> database, DataDirectory dataDirectory)
    {
        Provider = database.Value.Provider;
        var configured = configuration.GetConnectionString("Orchestrator");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            ConnectionString = Provider == DatabaseProvider.Postgres ? WithPostgresLimits(configured, database.Value) : configured;
        }
        else if (Provider == DatabaseProvider.Sqlite)
        {
            ConnectionString = $"Data Source={dataDirectory.File("orchestrator.db")};Default Timeout=30";
        }
        else
        {
            throw new OptionsValidationException("ConnectionStrings:Orchestrator", typeof(DatabaseOptions),
                ["ConnectionStrings:Orchestrator is required when Orchestrator:Database:Provider is Postgres."]);
        }
    }

    /// <summary>The statement timeout of work that may rightly take long and holds up no request: migrations (which
    /// also wait for another replica's) and retention sweeps.</summary>
    public static readonly TimeSpan MaintenanceCommandTimeout = TimeSpan.FromMinutes(10);

    public DatabaseProvider Provider { get; }
    public string ConnectionString { get; }

    /// <summary>Npgsql's own defaults (100 pooled connections, 15 s to connect or wait for one, 30 s per statement) would
    /// let one replica take a default PostgreSQL's every connection, and hold a request for 15 or 30 s before it is shed.
    /// What the connection string says itself is kept.</summary>
    private static string WithPostgresLimits(string connectionString, DatabaseOptions options)
    {
        var given = new DbConnectionStringBuilder { ConnectionString = connectionString }.Keys.Cast<string>()
            .Select(k => k.Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant())
            .ToHashSet(StringComparer.Ordinal);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!given.Overlaps(["maxpoolsize", "maximumpoolsize"]))
        {
            builder.MaxPoolSize = options.MaxPoolSize;
        }

        if (!given.Overlaps(["timeout", "connecttimeout", "connectiontimeout"]))
        {
            builder.Timeout = (int)Math.Ceiling(options.ConnectTimeout.TotalSeconds);
        }

        if (!given.Overlaps(["commandtimeout"]))
        {
            builder.CommandTimeout = (int)Math.Ceiling(options.CommandTimeout.TotalSeconds);
        }

        return builder.ConnectionString;
    }
}
