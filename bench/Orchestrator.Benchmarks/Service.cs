using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Orchestrator.Benchmarks;

/// <summary>One replica of the published service, started as its own process on PostgreSQL.</summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    public const string AdminKey = "ork_benchmark-admin-key-0123456789abcdefghijklmnop";

    private readonly ProcessStartInfo _start;
    private Process _process = null!;
    private long _errors53300;

    private ServiceProcess(ProcessStartInfo start, Uri address)
    {
        _start = start;
        Address = address;
    }

    /// <summary>DOTNET_gcServer for every service the bench starts: "1" (server GC), "0" (workstation GC) or null for
    /// the service's own default.</summary>
    public static string? ServiceGcServer { get; set; }

    public Uri Address { get; }
    public int Pid => _process.Id;

    /// <summary>Lines the service wrote that carry PostgreSQL's "too many clients" (53300).</summary>
    public long Errors53300 => Interlocked.Read(ref _errors53300);

    private int _unavailableShown;

    /// <summary>The published service as a process of its own on <paramref name="port"/>, with its data in
    /// <paramref name="dataDirectory"/>, logging warnings and worse only.</summary>
    public static ProcessStartInfo StartInfo(string serviceDll, int port, string dataDirectory)
    {
        var start = new ProcessStartInfo("dotnet", $"\"{serviceDll}\"")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        start.Environment["ASPNETCORE_URLS"] = $"https://127.0.0.1:{port}";
        start.Environment["Orchestrator__DataDirectory"] = dataDirectory;
        // Request logging at Information would measure the console, not the service.
        start.Environment["Serilog__MinimumLevel__Default"] = "Warning";
        return start;
    }

    /// <summary>A replica on PostgreSQL at <paramref name="connectionString"/>, or, when it is null, the service on its
    /// embedded SQLite database in <paramref name="dataDirectory"/>.</summary>
    public static async Task<ServiceProcess> StartAsync(string serviceDll, string? connectionString, string keyProtectionPfx, string dataDirectory,
        IReadOnlyDictionary<string, string>? settings = null)
    {
        var port = Processes.FreePort();
        var start = StartInfo(serviceDll, port, dataDirectory);
        if (connectionString is not null)
        {
            start.Environment["Orchestrator__Database__Provider"] = "Postgres";
            start.Environment["ConnectionStrings__Orchestrator"] = connectionString;
        }

        start.Environment["Orchestrator__Auth__BootstrapAdminKey"] = AdminKey;
        start.Environment["Orchestrator__KeyProtection__CertificatePath"] = keyProtectionPfx;
        start.Environment["Orchestrator__RateLimits__RegistrationsPerMinute"] = "1000000";
        // The service's own collector (its runtimeconfig), unless the bench was asked for one (--service-gc), to compare
        // the two. Only the service's: DOTNET_gcServer set for the whole bench would change the load generator's too.
        start.Environment.Remove("DOTNET_gcServer");
        if (ServiceGcServer is not null)
        {
            start.Environment["DOTNET_gcServer"] = ServiceGcServer;
        }
        // BENCH_SERVICE_X=v sets X=v for the services only (a runtime knob under comparison, say), not the load generator.
        foreach (var entry in Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>())
        {
            if (entry.Key is string name && name.StartsWith("BENCH_SERVICE_", StringComparison.Ordinal))
            {
                start.Environment[name["BENCH_SERVICE_".Length..]] = entry.Value as string;
            }
        }

        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var service = new ServiceProcess(start, new Uri($"https://127.0.0.1:{port}"));
        await service.LaunchAsync();
        return service;
    }

    /// <summary>A rolling restart of this replica: SIGTERM (the service drains and closes its streams), then the same
    /// process started again on the same address.</summary>
    public async Task RestartAsync()
    {
        await Processes.RunAsync("kill", $"-TERM {_process.Id}");
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        _process.Dispose();
        await LaunchAsync();
    }

    private async Task LaunchAsync()
    {
        var process = Process.Start(_start)!;
        _process = process;
        process.OutputDataReceived += (_, e) => Seen(e.Data, echo: e.Data?.Contains("ERR", StringComparison.Ordinal) == true);
        process.ErrorDataReceived += (_, e) => Seen(e.Data, echo: true);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var probe = Agents.NewClient(Address, null, null);
        for (var attempt = 0; attempt < 240; attempt++)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the service exited with {process.ExitCode} while starting");
            }

            try
            {
                if ((await probe.GetAsync("/health/ready")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(250);
        }

        throw new TimeoutException("the service did not become ready in 60 s");
    }

    private void Seen(string? line, bool echo)
    {
        if (line is null)
        {
            return;
        }

        if (line.Contains("53300", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _errors53300);
        }

        // The first few 503s say why (the database's pool, a statement's time-out); the rest only count.
        if (echo || (line.Contains("answered 503", StringComparison.Ordinal) && Interlocked.Increment(ref _unavailableShown) <= 3))
        {
            Console.Error.WriteLine($"  [service] {line}");
        }
    }

    /// <summary>The key-encryption certificate replicas must share.</summary>
    public static string CreateKeyProtectionPfx(string directory)
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=orchestrator-benchmark-kek", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var path = Path.Combine(directory, "kek.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx));
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}

public static class Agents
{
    public static HttpClient NewClient(Uri address, X509Certificate2? certificate, string? bearer, string? apiKey = null)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
                ClientCertificates = certificate is null ? null : [certificate],
                LocalCertificateSelectionCallback = certificate is null ? null : (_, _, _, _, _) => certificate,
            },
            MaxConnectionsPerServer = 1,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
        };
        var client = new HttpClient(handler) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new("Bearer", bearer);
        }

        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        }

        return client;
    }
}
