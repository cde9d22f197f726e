using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
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
    private static string? _clusterDirectory;
    private static string? _binDirectory;

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

    private static async Task<string> StartAsync()
    {
        var configured = Environment.GetEnvironmentVariable(ConnectionVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }

        _binDirectory = FindBinaries() ?? throw new InvalidOperationException("no PostgreSQL binaries under /usr/lib/postgresql");
        var root = Directory.CreateTempSubdirectory("orch-pg-").FullName;
        _clusterDirectory = Path.Combine(root, "data");
        var socketDirectory = Path.Combine(root, "sock");
        Directory.CreateDirectory(socketDirectory);
        var asRoot = Environment.UserName == "root";
        if (asRoot)
        {
            await RunAsync("chown", $"-R postgres {root}");
        }

        var port = FreePort();
        await RunPostgresToolAsync(asRoot, "initdb", $"-D {_clusterDirectory} -U postgres -A trust --no-sync -E UTF8");
        StartWatchdog(asRoot, root);
        await RunPostgresToolAsync(asRoot, "pg_ctl",
            $"-D {_clusterDirectory} -l {root}/server.log -w -t 60 start -o \"-p {port} -k {socketDirectory} -c listen_addresses=127.0.0.1 " +
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400\"");
        return $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Timeout=30;Command Timeout=60";
    }

    /// <summary>vstest kills the test host when the run ends, so ProcessExit handlers never run and every run would
    /// leave a cluster behind. A detached shell outside this process stops the cluster and removes its files once
    /// this process is gone, however it ended.</summary>
    private static void StartWatchdog(bool asRoot, string root)
    {
        var stop = $"{Path.Combine(_binDirectory!, "pg_ctl")} -D {_clusterDirectory} -m immediate -w stop";
        var script = $"exec </dev/null >/dev/null 2>&1; while [ -d /proc/{Environment.ProcessId} ]; do sleep 1; done; " +
                     $"{(asRoot ? $"runuser -u postgres -- {stop}" : stop)}; rm -rf {root}";
        var start = new ProcessStartInfo("setsid", ["sh", "-c", script]) { WorkingDirectory = "/tmp" };
        using var _ = Process.Start(start);
    }

    private static string? FindBinaries() =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
                .FirstOrDefault()
            : null;

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static Task RunPostgresToolAsync(bool asRoot, string tool, string arguments) =>
        asRoot
            ? RunAsync("runuser", $"-u postgres -- {Path.Combine(_binDirectory!, tool)} {arguments}")
            : RunAsync(Path.Combine(_binDirectory!, tool), arguments);

    private static async Task RunAsync(string file, string arguments)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = "/tmp",
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {arguments} exited {process.ExitCode}: {await error}{await output}");
        }
    }
}
