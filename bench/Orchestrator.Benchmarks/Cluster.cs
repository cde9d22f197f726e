using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Orchestrator.Benchmarks;

/// <summary>A throwaway PostgreSQL cluster with production durability settings (fsync on), so the benchmark pays
/// the real cost of a commit.</summary>
public sealed class PostgresCluster : IAsyncDisposable
{
    private readonly string _root;
    private readonly string _bin;
    private readonly bool _asRoot = Environment.UserName == "root";

    private PostgresCluster(string root, string bin, int port)
    {
        _root = root;
        _bin = bin;
        Port = port;
    }

    public int Port { get; }

    public string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Maximum Pool Size=100;Timeout=30";

    public static async Task<PostgresCluster> StartAsync()
    {
        var bin = Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
            .Where(d => File.Exists(Path.Combine(d, "initdb"))).OrderDescending().FirstOrDefault()
            ?? throw new InvalidOperationException("PostgreSQL binaries not found under /usr/lib/postgresql");
        var root = Directory.CreateTempSubdirectory("orch-bench-pg-").FullName;
        Directory.CreateDirectory(Path.Combine(root, "sock"));
        var cluster = new PostgresCluster(root, bin, Processes.FreePort());
        if (cluster._asRoot)
        {
            await Processes.RunAsync("chown", $"-R postgres {root}");
        }

        await cluster.ToolAsync("initdb", $"-D {root}/data -U postgres -A trust -E UTF8");
        await cluster.ToolAsync("pg_ctl", $"-D {root}/data -l {root}/server.log -w -t 60 start -o \"-p {cluster.Port} -k {root}/sock " +
            "-c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB\"");
        return cluster;
    }

    public async Task CreateDatabaseAsync(string name)
    {
        await using var connection = new Npgsql.NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await ToolAsync("pg_ctl", $"-D {_root}/data -m immediate -w stop");
        }
        finally
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private Task ToolAsync(string tool, string arguments) => _asRoot
        ? Processes.RunAsync("runuser", $"-u postgres -- {Path.Combine(_bin, tool)} {arguments}")
        : Processes.RunAsync(Path.Combine(_bin, tool), arguments);
}

public static class Processes
{
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task RunAsync(string file, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = "/tmp",
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {arguments} exited {process.ExitCode}: {await error}{await output}");
        }
    }

    /// <summary>Resident memory of a process in MiB, from /proc.</summary>
    public static double ResidentMiB(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
            }
        }

        return double.NaN;
    }
}
