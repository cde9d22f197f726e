using Orchestrator.Hosting;

namespace Orchestrator.Tests.Infrastructure;

/// <summary>One test's database (a fresh SQLite file in its own data directory, or a fresh PostgreSQL database).
/// Several app instances may share it: restarts, or replicas on PostgreSQL.</summary>
public sealed class TestStorage : IDisposable
{
    private TestStorage(DatabaseProvider provider, string dataDirectory, string? connectionString)
    {
        Provider = provider;
        DataDirectory = dataDirectory;
        ConnectionString = connectionString;
    }

    public DatabaseProvider Provider { get; }
    public string DataDirectory { get; }
    public string? ConnectionString { get; }

    public static async Task<TestStorage> CreateAsync(DatabaseProvider provider)
    {
        var connectionString = provider == DatabaseProvider.Postgres ? await PostgresServer.CreateDatabaseAsync() : null;
        return new TestStorage(provider, Directory.CreateTempSubdirectory("orch-test-").FullName, connectionString);
    }

    public void Dispose()
    {
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
