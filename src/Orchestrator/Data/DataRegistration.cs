using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Orchestrator.Hosting;

namespace Orchestrator.Data;

public static class DataRegistration
{
    public static IServiceCollection AddOrchestratorData(this IServiceCollection services)
    {
        // Both contexts are registered and the configured provider picks one when a context is asked for, so the
        // choice follows configuration however late it is supplied (test hosts add theirs after Program runs).
        // Interceptors registered in DI (diagnostics, tests that hold a statement to widen a race) join every context.
        // The options are built once per host, not once per request: everything they read is a singleton.
        services.AddSingleton<IInterceptor, DatabaseRoundTrips>();
        services.AddSingleton<DatabaseAvailability>();
        // Pooled: a context's own services (change tracker, connection, query context) are made once and kept with it,
        // instead of again for every request and background pass; a returned context is reset, command timeout included.
        services.AddDbContextPool<PostgresOrchestratorDbContext>((sp, options) =>
            ConfigurePostgres(options, sp.GetRequiredService<DatabaseConnection>().ConnectionString).AddInterceptors(sp.GetServices<IInterceptor>()));
        services.AddDbContextPool<SqliteOrchestratorDbContext>((sp, options) =>
            ConfigureSqlite(options, sp.GetRequiredService<DatabaseConnection>().ConnectionString).AddInterceptors(sp.GetServices<IInterceptor>()));
        services.AddScoped<OrchestratorDbContext>(sp => sp.GetRequiredService<DatabaseConnection>().Provider == DatabaseProvider.Postgres
            ? sp.GetRequiredService<PostgresOrchestratorDbContext>()
            : sp.GetRequiredService<SqliteOrchestratorDbContext>());

        services.AddHostedService<DatabaseMigrator>();
        return services;
    }

    internal static DbContextOptionsBuilder ConfigurePostgres(DbContextOptionsBuilder options, string connectionString) =>
        IgnorePendingModelChanges(
            options.UseNpgsql(connectionString, npgsql => npgsql.MigrationsAssembly(typeof(OrchestratorDbContext).Assembly.FullName)));

    internal static DbContextOptionsBuilder ConfigureSqlite(DbContextOptionsBuilder options, string connectionString) =>
        IgnorePendingModelChanges(options.UseSqlite(connectionString));

    /// <summary>EF Core compares the model with the last migration's snapshot on every migration run, a model diff that
    /// costs a good part of a start-up. HostTests already fails, for both providers, on a model change
    /// without its migration, so the service does not pay for the check again at every start.</summary>
    private static DbContextOptionsBuilder IgnorePendingModelChanges(DbContextOptionsBuilder options) =>
        options.ConfigureWarnings(warnings => warnings
            .Ignore(RelationalEventId.PendingModelChangesWarning)
            // EF Core logs every failed command, query, save, connection and transaction at Error, with a stack trace,
            // before the exception reaches our code, which then logs it once itself: a database outage as one warning
            // per 503 (event 1100), a constraint it turns into a 409 not at all, a failed background pass as that pass's
            // error, anything unhandled as the 500's error. EF's line was a second, louder copy (a renewal refused
            // because the agent was just deleted logged an EF error with a stack trace); at Debug it stays available.
            .Log(
                (RelationalEventId.CommandError, LogLevel.Debug),
                (RelationalEventId.ConnectionError, LogLevel.Debug),
                (RelationalEventId.TransactionError, LogLevel.Debug),
                (CoreEventId.SaveChangesFailed, LogLevel.Debug),
                (CoreEventId.QueryIterationFailed, LogLevel.Debug)));
}

/// <summary>Applies migrations before the server starts listening. EF Core takes a database lock while it
/// migrates, so replicas starting together do not race.</summary>
internal sealed class DatabaseMigrator(IServiceScopeFactory scopes, ILogger<DatabaseMigrator> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        db.Database.SetCommandTimeout(DatabaseConnection.MaintenanceCommandTimeout);
        if (db.Database.IsSqlite())
        {
            ProtectSqliteFiles(db.Database.GetConnectionString()!);
            // WAL lets readers run beside the single writer; the setting is stored in the file.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
        }
        else
        {
            await CreateHistoryTableAsync(db, cancellationToken);
        }

        // Migrations only ever add, so a database with none pending needs nothing, not even the migration lock; when
        // some are pending, MigrateAsync takes the lock and looks again, so replicas starting together apply each once.
        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        if (pending.Count > 0)
        {
            await db.Database.MigrateAsync(cancellationToken);
            logger.MigrationsApplied(pending.Count, db.Database.ProviderName);
        }
    }

    /// <summary>The SQLite file holds everything (hashed keys, encrypted CA keys, task history): only the service's user
    /// may read it (0600). A new file is created so before SQLite opens it, an existing one is tightened; SQLite gives
    /// its <c>-wal</c> and <c>-shm</c> files the mode of the database file, and those already there are tightened too.</summary>
    private void ProtectSqliteFiles(string connectionString)
    {
        var settings = new SqliteConnectionStringBuilder(connectionString);
        if (OperatingSystem.IsWindows() || settings.Mode == SqliteOpenMode.Memory || settings.DataSource is "" or ":memory:")
        {
            return;
        }

        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var path = Path.GetFullPath(settings.DataSource);
        try
        {
            var create = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.Write, UnixCreateMode = ownerOnly };
            using (new FileStream(path, create))
            {
            }

            foreach (var file in new[] { path, $"{path}-wal", $"{path}-shm", $"{path}-journal" }.Where(File.Exists))
            {
                File.SetUnixFileMode(file, ownerOnly);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not ours to change (an operator's file, another owner): the service runs, and says so.
            logger.SqliteFileModeNotSet(ex, path);
        }
    }

    /// <summary>Npgsql reads the migrations history table without checking that it exists, and EF logs the expected
    /// failure on a fresh database as two errors (npgsql/efcore.pg#3407) that would send operators looking for a fault
    /// on every first start. Creating the table first, under a lock so replicas starting together do not collide on
    /// the catalog, keeps that log clean.</summary>
    private static async Task CreateHistoryTableAsync(OrchestratorDbContext db, CancellationToken cancellationToken)
    {
        var script = db.GetService<IHistoryRepository>().GetCreateIfNotExistsScript();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await ClusterLocks.TakeAsync(db, "orchestrator.migrations", cancellationToken);
        await db.Database.ExecuteSqlRawAsync(script, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Lets <c>dotnet ef</c> build each context without starting the web host.</summary>
internal sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteOrchestratorDbContext>
{
    public SqliteOrchestratorDbContext CreateDbContext(string[] args)
    {
        var builder = new DbContextOptionsBuilder<SqliteOrchestratorDbContext>();
        DataRegistration.ConfigureSqlite(builder, "Data Source=design-time.db");
        return new SqliteOrchestratorDbContext(builder.Options);
    }
}

internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresOrchestratorDbContext>
{
    public PostgresOrchestratorDbContext CreateDbContext(string[] args)
    {
        var builder = new DbContextOptionsBuilder<PostgresOrchestratorDbContext>();
        DataRegistration.ConfigurePostgres(builder, "Host=localhost;Database=orchestrator_design");
        return new PostgresOrchestratorDbContext(builder.Options);
    }
}
