using Npgsql;

namespace Orchestrator.Testing;

/// <summary>A throwaway PostgreSQL cluster for the whole test run, started from the machine's binaries (as the
/// <c>postgres</c> user when running as root), or the server named by <c>ORCHESTRATOR_TEST_POSTGRES</c>.
/// Each test's storage is its own database (see <see cref="TestStorage"/>).</summary>
public static class PostgresServer
{
    public const string ConnectionVariable = "ORCHESTRATOR_TEST_POSTGRES";
    public const string RequireVariable = "ORCHESTRATOR_REQUIRE_POSTGRES";

    private static readonly Lazy<Task<string>> AdminConnection = new(StartAsync);

    /// <summary>True where a missing PostgreSQL must fail the run instead of skipping (CI).</summary>
    public static bool Required =>
        Environment.GetEnvironmentVariable(RequireVariable) is "1" or "true" ||
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Creates a database and returns its connection string: an empty one, or a copy of
    /// <paramref name="template"/> (<c>CREATE DATABASE … TEMPLATE</c>, a file-level copy that takes a few milliseconds
    /// where running the migrations takes a second). Nothing may be connected to the template while it is copied.</summary>
    public static async Task<string> CreateDatabaseAsync(string? template = null)
    {
        string admin;
        try
        {
            admin = await AdminConnection.Value;
        }
        catch (Exception ex) when (!Required)
        {
            throw new SkipException($"PostgreSQL is not available on this machine ({ex.Message}); set {ConnectionVariable} or install PostgreSQL to run this test.");
        }

        var name = $"orch_test_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                template is null ? $"CREATE DATABASE \"{name}\"" : $"CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(admin) { Database = name, MaxPoolSize = 50 }.ConnectionString;
    }

    /// <summary>Drops a database <see cref="CreateDatabaseAsync"/> made, ending the sessions still connected to it (a
    /// stopped host's pooled idle connections) and emptying this process's pool of it. Best effort: a database left
    /// behind costs disk, not a test.</summary>
    public static void DropDatabase(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        using (var pooled = new NpgsqlConnection(connectionString))
        {
            NpgsqlConnection.ClearPool(pooled);
        }

        try
        {
            using var connection = new NpgsqlConnection(AdminConnection.Value.GetAwaiter().GetResult());
            connection.Open();
            using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
            command.ExecuteNonQuery();
        }
        catch (NpgsqlException)
        {
            // The cluster is gone or busy at the end of the run; it is thrown away with everything on it.
        }
    }

    private static async Task<string> StartAsync()
    {
        var configured = Environment.GetEnvironmentVariable(ConnectionVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }

        // Kept for the whole run (its watchdog stops it when the test process is gone).
        var cluster = await PostgresCluster.StartAsync("-c max_connections=400");
        return cluster.AdminConnectionString;
    }
}
