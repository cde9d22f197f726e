using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Observability;

/// <summary>A real Prometheus (Debian's <c>prometheus</c> package) started for one test on a free local port with its
/// own storage directory, and stopped by its PID when the test ends. Outside CI a machine without it skips the test;
/// in CI (<c>CI=true</c> or <see cref="RequireVariable"/>) it fails.</summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    /// <summary>Paths to the binaries when they are not on PATH (.ci/run exports them).</summary>
    public const string PrometheusVariable = "ORCHESTRATOR_PROMETHEUS";
    public const string PromtoolVariable = "ORCHESTRATOR_PROMTOOL";
    public const string RequireVariable = "ORCHESTRATOR_REQUIRE_PROMETHEUS";

    private readonly Process _process;
    private readonly HttpClient _http;
    private readonly string _log;
    private readonly StreamWriter _writer;

    private PrometheusServer(Process process, Uri address, string log, StreamWriter writer)
    {
        _process = process;
        _log = log;
        _writer = writer;
        _http = new HttpClient { BaseAddress = address };
    }

    private static bool Required =>
        Environment.GetEnvironmentVariable(RequireVariable) is "1" or "true" ||
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The path of <c>prometheus</c> or <c>promtool</c>: skips the test where it is missing, outside CI.</summary>
    public static string Binary(string name)
    {
        var configured = Environment.GetEnvironmentVariable(name == "promtool" ? PromtoolVariable : PrometheusVariable);
        var found = !string.IsNullOrEmpty(configured) ? configured
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
                .Select(directory => Path.Combine(directory, name)).FirstOrDefault(File.Exists);
        if (found is not null && File.Exists(found))
        {
            return found;
        }

        var message = $"{name} is not installed (apt-get install prometheus) and {PrometheusVariable}/{PromtoolVariable} is not set.";
        Assert.False(Required, message);
        throw new SkipException(message);
    }

    /// <summary>Runs <c>promtool</c> with <paramref name="arguments"/> and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> PromtoolAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo(Binary("promtool")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }

    /// <summary>Starts Prometheus with <paramref name="configFile"/>, its data under <paramref name="directory"/>, and
    /// returns once it answers ready. The free port it is given may be taken by another test's listener before
    /// Prometheus binds it: then it starts again on another.</summary>
    public static async Task<PrometheusServer> StartAsync(string configFile, string directory)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(configFile, directory);
            }
            catch (PortTakenException) when (attempt < 3)
            {
            }
        }
    }

    private sealed class PortTakenException(string message) : Exception(message);

    private static async Task<PrometheusServer> StartOnceAsync(string configFile, string directory)
    {
        var port = FreePort();
        var log = Path.Combine(directory, $"prometheus-{port}.log");
        var start = new ProcessStartInfo(Binary("prometheus"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = directory,
        };
        foreach (var argument in new[]
                 {
                     $"--config.file={configFile}", $"--storage.tsdb.path={Path.Combine(directory, "data")}",
                     $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
                 })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var writer = new StreamWriter(log) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => Write(writer, e.Data);
        process.ErrorDataReceived += (_, e) => Write(writer, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new PrometheusServer(process, new Uri($"http://127.0.0.1:{port}"), log, writer);
        try
        {
            await Poll.Until(async () =>
            {
                if (process.HasExited)
                {
                    await process.WaitForExitAsync();
                    var log = server.Log();
                    var exited = $"Prometheus exited ({process.ExitCode}): {log}";
                    throw log.Contains("address already in use", StringComparison.Ordinal) ? new PortTakenException(exited) : new InvalidOperationException(exited);
                }

                try
                {
                    return (await server._http.GetAsync("/-/ready")).StatusCode == HttpStatusCode.OK;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, "Prometheus to answer ready", TimeSpan.FromSeconds(30));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>What Prometheus wrote (warnings and errors), for failure messages.</summary>
    public string Log()
    {
        try
        {
            using var stream = new FileStream(_log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return new StreamReader(stream).ReadToEnd();
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>An instant query through <c>/api/v1/query</c>: the result vector.</summary>
    public async Task<JsonElement> QueryAsync(string promql)
    {
        var body = await _http.GetStringAsync($"/api/v1/query?query={Uri.EscapeDataString(promql)}");
        var answer = JsonDocument.Parse(body).RootElement;
        Assert.True(answer.GetProperty("status").GetString() == "success", $"Query {promql} failed: {body}");
        return answer.GetProperty("data").GetProperty("result").Clone();
    }

    /// <summary>The value of a query that yields at most one series; null when it yields none.</summary>
    public async Task<double?> ValueAsync(string promql)
    {
        var result = await QueryAsync(promql);
        Assert.True(result.GetArrayLength() <= 1, $"Query {promql} gave {result.GetArrayLength()} series: {result}");
        return result.GetArrayLength() == 0
            ? null
            : double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
    }

    /// <summary>The loaded rule groups (<c>/api/v1/rules</c>).</summary>
    public async Task<JsonElement> RulesAsync()
    {
        var body = await _http.GetStringAsync("/api/v1/rules");
        return JsonDocument.Parse(body).RootElement.GetProperty("data").GetProperty("groups").Clone();
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (!_process.HasExited)
        {
            // Our own child, by its PID.
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        lock (_writer)
        {
            _writer.Dispose();
        }
    }

    private static void Write(StreamWriter writer, string? line)
    {
        if (line is not null)
        {
            lock (writer)
            {
                writer.WriteLine(line);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
