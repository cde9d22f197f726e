using System.Diagnostics;

namespace Orchestrator.Benchmarks;

/// <summary>Start-up time as a user meets it: the published service started as a process on the embedded SQLite store,
/// timed from the process start to the first answer 200 of <c>/health/ready</c> (polled every 10 ms). A first start has
/// an empty data directory (it creates the database, the key-encryption certificate, the CA, the signing key and the
/// admin key); a later start finds them.</summary>
public static class Startup
{
    public sealed record Result(List<double> FirstSeconds, List<double> LaterSeconds, List<double> JitFirstSeconds, List<double> JitLaterSeconds);

    /// <summary>Rounds alternate between the ReadyToRun publish (the one operators run) and the same service published
    /// without it (<c>bench/out/service-jit</c>, when there), so the machine's load hits both alike.</summary>
    public static async Task<Result> RunAsync(Settings settings, string workDirectory, int rounds = 3)
    {
        var jitDll = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(settings.ServiceDll))!, "service-jit", "Orchestrator.dll");
        var result = new Result([], [], [], []);
        for (var round = 0; round < rounds; round++)
        {
            var data = Path.Combine(workDirectory, $"startup-{round}");
            result.FirstSeconds.Add(await TimeStartAsync(settings.ServiceDll, data));
            result.LaterSeconds.Add(await TimeStartAsync(settings.ServiceDll, data));
            if (File.Exists(jitDll))
            {
                var jitData = Path.Combine(workDirectory, $"startup-jit-{round}");
                result.JitFirstSeconds.Add(await TimeStartAsync(jitDll, jitData));
                result.JitLaterSeconds.Add(await TimeStartAsync(jitDll, jitData));
            }
        }

        Console.WriteLine($"  start-up: first {Stats.Percentile(result.FirstSeconds, 50):F2} s, later {Stats.Percentile(result.LaterSeconds, 50):F2} s; " +
            $"without ReadyToRun {Stats.Percentile(result.JitFirstSeconds, 50):F2} s, {Stats.Percentile(result.JitLaterSeconds, 50):F2} s (medians of {rounds})");
        return result;
    }

    private static async Task<double> TimeStartAsync(string serviceDll, string dataDirectory)
    {
        var port = Processes.FreePort();
        var start = ServiceProcess.StartInfo(serviceDll, port, dataDirectory);
        using var probe = Agents.NewClient(new Uri($"https://127.0.0.1:{port}"), null, null);
        probe.Timeout = TimeSpan.FromSeconds(5);
        var started = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                Console.Error.WriteLine($"  [service] {e.Data}");
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            while (started.Elapsed < TimeSpan.FromSeconds(60))
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"the service exited with {process.ExitCode} while starting");
                }

                try
                {
                    if ((await probe.GetAsync("/health/ready")).IsSuccessStatusCode)
                    {
                        return started.Elapsed.TotalSeconds;
                    }
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }

                await Task.Delay(10);
            }

            throw new TimeoutException("the service did not become ready in 60 s");
        }
        finally
        {
            await Processes.RunAsync("kill", $"-TERM {process.Id}");
            await process.WaitForExitAsync();
        }
    }
}
