using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Orchestrator.Testing;

/// <summary>A PostgreSQL cluster of its own, started from the machine's binaries (as the <c>postgres</c> user when
/// running as root) in a temporary directory. The run's shared server is one (<see cref="PostgresServer"/>); a test
/// that must stop the database under the service, or needs PostgreSQL's default settings, starts its own and disposes
/// it. A detached watchdog stops the cluster and removes its files once the test process is gone, however it ended
/// (vstest kills the test host, so no exit handler would run).</summary>
public sealed class PostgresCluster : IAsyncDisposable
{
    private readonly string _binDirectory;
    private readonly string _root;
    private readonly string _dataDirectory;
    private readonly string _startOptions;
    private readonly bool _asRoot = Environment.UserName == "root";

    private PostgresCluster(string binDirectory, string root, int port, string settings)
    {
        _binDirectory = binDirectory;
        _root = root;
        _dataDirectory = Path.Combine(root, "data");
        var socketDirectory = Path.Combine(root, "sock");
        Directory.CreateDirectory(socketDirectory);
        _startOptions = $"-p {port} -k {socketDirectory} -c listen_addresses=127.0.0.1 {settings}".TrimEnd();
        AdminConnectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Timeout=30;Command Timeout=60";
    }

    /// <summary>Superuser access to the <c>postgres</c> database over TCP.</summary>
    public string AdminConnectionString { get; }

    /// <summary>Initialises and starts a cluster. <paramref name="settings"/> are <c>-c name=value</c> server
    /// options; without any the cluster has PostgreSQL's defaults (100 connections among them).</summary>
    public static async Task<PostgresCluster> StartAsync(string settings = "")
    {
        var binDirectory = FindBinaries() ?? throw new InvalidOperationException("no PostgreSQL binaries under /usr/lib/postgresql");
        var cluster = new PostgresCluster(binDirectory, Directory.CreateTempSubdirectory("orch-pg-").FullName, FreePort(), settings);
        if (cluster._asRoot)
        {
            await RunAsync("chown", $"-R postgres {cluster._root}");
        }

        await cluster.RunToolAsync("initdb", $"-D {cluster._dataDirectory} -U postgres -A trust --no-sync -E UTF8");
        cluster.StartWatchdog();
        await cluster.StartAgainAsync();
        return cluster;
    }

    /// <summary>A test cluster on this machine, or a skip (a failure in CI) where PostgreSQL is not installed.</summary>
    public static async Task<PostgresCluster> StartOrSkipAsync(string settings = "")
    {
        try
        {
            return await StartAsync(settings);
        }
        catch (Exception ex) when (!PostgresServer.Required)
        {
            throw new SkipException($"A PostgreSQL cluster of its own could not be started here ({ex.Message}).");
        }
    }

    /// <summary>Stops the server as an operator or a crash would take it away: <c>fast</c> ends every session (clients
    /// see 57P01), <c>immediate</c> drops them without a word.</summary>
    public Task StopAsync(string mode = "fast") => RunToolAsync("pg_ctl", $"-D {_dataDirectory} -m {mode} -w -t 60 stop");

    /// <summary>Freezes the server as a hung host or a paused VM would (SIGSTOP): its sockets stay open, so the kernel still
    /// accepts connections, and nothing answers. <see cref="ThawAsync"/> lets it go on. Only this cluster's processes are
    /// signalled: the postmaster named in its pid file, first (so it forks nothing meanwhile), then its children.</summary>
    public async Task FreezeAsync()
    {
        var postmaster = await PostmasterAsync();
        await RunAsync("kill", $"-STOP {postmaster}");
        await RunAsync("kill", $"-STOP {string.Join(' ', await ChildrenAsync(postmaster))}");
    }

    /// <summary>Lets a frozen server go on: its children first, then the postmaster.</summary>
    public async Task ThawAsync()
    {
        var postmaster = await PostmasterAsync();
        await RunAsync("kill", $"-CONT {string.Join(' ', await ChildrenAsync(postmaster))}");
        await RunAsync("kill", $"-CONT {postmaster}");
    }

    /// <summary>Stops one backend of this cluster (SIGSTOP) and returns what lets it go on: its client's connection stays
    /// open and nothing answers on it, as when a NAT or firewall silently drops it. Refuses a process that is not one of
    /// this cluster's backends.</summary>
    public async Task<Func<Task>> FreezeBackendAsync(int processId)
    {
        if (!(await ChildrenAsync(await PostmasterAsync())).Contains(processId.ToString(CultureInfo.InvariantCulture)))
        {
            throw new InvalidOperationException($"Process {processId} is not a backend of this cluster.");
        }

        await RunAsync("kill", $"-STOP {processId}");
        return () => RunAsync("kill", $"-CONT {processId}");
    }

    private async Task<int> PostmasterAsync() =>
        int.Parse((await File.ReadAllLinesAsync(Path.Combine(_dataDirectory, "postmaster.pid")))[0], CultureInfo.InvariantCulture);

    private static async Task<string[]> ChildrenAsync(int postmaster) =>
        (await File.ReadAllTextAsync($"/proc/{postmaster}/task/{postmaster}/children")).Split(' ', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Starts the server (again) on the same port and data.</summary>
    public Task StartAgainAsync() =>
        RunToolAsync("pg_ctl", $"-D {_dataDirectory} -l {_root}/server.log -w -t 60 start " +
            $"-o \"{_startOptions} -c fsync=off -c synchronous_commit=off -c full_page_writes=off\"");

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync("immediate");
        }
        catch (InvalidOperationException)
        {
            // Already stopped by the test.
        }

        Directory.Delete(_root, recursive: true);
    }

    private void StartWatchdog()
    {
        var stop = $"{Path.Combine(_binDirectory, "pg_ctl")} -D {_dataDirectory} -m immediate -w stop";
        var script = $"exec </dev/null >/dev/null 2>&1; while [ -d /proc/{Environment.ProcessId} ]; do sleep 1; done; " +
                     $"{(_asRoot ? $"runuser -u postgres -- {stop}" : stop)}; rm -rf {_root}";
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

    private Task RunToolAsync(string tool, string arguments) =>
        _asRoot
            ? RunAsync("runuser", $"-u postgres -- {Path.Combine(_binDirectory, tool)} {arguments}")
            : RunAsync(Path.Combine(_binDirectory, tool), arguments);

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
