using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Orchestrator.Data;
using Orchestrator.Hosting;

namespace Orchestrator.Testing;

/// <summary>One test's database (SQLite in its own data directory, or its own PostgreSQL database) with every
/// migration applied. Several app instances may share it: restarts, or replicas on PostgreSQL.
/// <para>The migrations run once per test run and provider, into a template; each storage is a copy of it (a file
/// copy on SQLite, <c>CREATE DATABASE … TEMPLATE</c> on PostgreSQL). The service still runs its migrator on start and
/// finds nothing to apply; <see cref="CreateEmptyAsync"/> gives a database no migration ran on, for tests of a first
/// start. The template holds the schema only: every host creates its own CA, keys and admin key as on a first
/// start.</para></summary>
public sealed class TestStorage : IDisposable
{
    private const string SqliteFileName = "orchestrator.db";

    private readonly bool _onCluster;

    private TestStorage(DatabaseProvider provider, string dataDirectory, string? connectionString, bool onCluster = false)
    {
        Provider = provider;
        DataDirectory = dataDirectory;
        ConnectionString = connectionString;
        _onCluster = onCluster;
    }

    public DatabaseProvider Provider { get; }
    public string DataDirectory { get; }
    public string? ConnectionString { get; }

    // Generating the 3072-bit RSA key-encryption certificate costs about half a second of CPU per data directory, so
    // the run generates one and seeds every data directory with it; KeyCustodyTests covers the generation itself. Its
    // PKCS#12 file runs its key derivation once, not 2,000 times as the service's own (every host start loads it).
    private static readonly Lazy<byte[]> KeyEncryptionCertificate = new(() =>
    {
        using var key = RSA.Create(3072);
        using var certificate = new CertificateRequest("CN=Orchestrator key encryption (tests)", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(10));
        return certificate.ExportPkcs12(new PbeParameters(PbeEncryptionAlgorithm.Aes128Cbc, HashAlgorithmName.SHA256, 1), password: null);
    });

    private static readonly Lazy<Task<byte[]>> SqliteTemplate = new(MigrateSqliteTemplateAsync);
    private static readonly Lazy<Task<string>> PostgresTemplate = new(MigratePostgresTemplateAsync);

    /// <summary>Fresh storage with the schema in place.</summary>
    public static Task<TestStorage> CreateAsync(DatabaseProvider provider) => CreateAsync(provider, migrated: true);

    /// <summary>Fresh storage no migration ran on, as the service finds it on its very first start.</summary>
    public static Task<TestStorage> CreateEmptyAsync(DatabaseProvider provider) => CreateAsync(provider, migrated: false);

    /// <summary>Fresh storage in the <c>postgres</c> database of a cluster of the test's own (one it may stop), no
    /// migration run yet: the service migrates it on start.</summary>
    public static TestStorage OnCluster(PostgresCluster cluster) =>
        new(DatabaseProvider.Postgres, NewDataDirectory(), cluster.AdminConnectionString, onCluster: true);

    private static string NewDataDirectory()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("orch-test-").FullName;
        File.WriteAllBytes(Path.Combine(dataDirectory, Security.KeyEncryptionCertificate.GeneratedFileName), KeyEncryptionCertificate.Value);
        return dataDirectory;
    }

    private static async Task<TestStorage> CreateAsync(DatabaseProvider provider, bool migrated)
    {
        string? connectionString = null;
        if (provider == DatabaseProvider.Postgres)
        {
            connectionString = await PostgresServer.CreateDatabaseAsync(migrated ? await PostgresTemplate.Value : null);
        }

        var dataDirectory = NewDataDirectory();
        if (provider == DatabaseProvider.Sqlite && migrated)
        {
            await File.WriteAllBytesAsync(Path.Combine(dataDirectory, SqliteFileName), await SqliteTemplate.Value);
        }

        return new TestStorage(provider, dataDirectory, connectionString);
    }

    /// <summary>The migrated database file, kept in memory (a few hundred kB) so no template file outlives the run.</summary>
    private static async Task<byte[]> MigrateSqliteTemplateAsync()
    {
        var directory = Directory.CreateTempSubdirectory("orch-template-").FullName;
        try
        {
            // No pooling: the file must be closed (and its journal folded in) before it is read.
            var connectionString = $"Data Source={Path.Combine(directory, SqliteFileName)};Pooling=False";
            var options = new DbContextOptionsBuilder<SqliteOrchestratorDbContext>();
            DataRegistration.ConfigureSqlite(options, connectionString);
            await using (var db = new SqliteOrchestratorDbContext(options.Options))
            {
                await db.Database.MigrateAsync();
            }

            SqliteConnection.ClearAllPools();
            return await File.ReadAllBytesAsync(Path.Combine(directory, SqliteFileName));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>A database the migrations ran on, named for this run; PostgreSQL copies it for each storage.</summary>
    private static async Task<string> MigratePostgresTemplateAsync()
    {
        var created = await PostgresServer.CreateDatabaseAsync();
        // No pooling: a pooled idle connection to the template would make every copy fail ("being accessed by other users").
        var connectionString = new NpgsqlConnectionStringBuilder(created) { Pooling = false }.ConnectionString;
        var options = new DbContextOptionsBuilder<PostgresOrchestratorDbContext>();
        DataRegistration.ConfigurePostgres(options, connectionString);
        await using (var db = new PostgresOrchestratorDbContext(options.Options))
        {
            await db.Database.MigrateAsync();
        }

        return new NpgsqlConnectionStringBuilder(created).Database!;
    }

    /// <summary>Drops this storage's PostgreSQL database (not a cluster's own <c>postgres</c> database, see
    /// <see cref="OnCluster"/>), closing what its hosts left open: each host's pool keeps idle connections for minutes
    /// after the host is gone, and a run of hundreds of tests on one cluster ran out of connections that way
    /// (53300 "too many clients").</summary>
    public void Dispose()
    {
        if (Provider == DatabaseProvider.Postgres && !_onCluster)
        {
            PostgresServer.DropDatabase(ConnectionString!);
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A host still closing its SQLite file; the temp folder is cleaned by the OS.
        }
    }
}
