using System.Diagnostics;
using System.Globalization;
using Microsoft.Diagnostics.Tracing.Etlx;

namespace Orchestrator.Benchmarks;

/// <summary>Where the service's CPU goes under one load: the service process sampled on CPU by
/// <c>dotnet-trace collect-linux --profile cpu-sampling</c> (perf_events: kernel, native and managed frames in one
/// stack), each sample charged to the first frame, from the leaf up, that belongs to a named part. Needs root and a
/// Linux kernel of 6.4 or later; where that is missing the result says why instead.</summary>
public static class CpuProfile
{
    /// <summary>A part of the process, how to tell its frames (a frame's method name or, without symbols, its module), and
    /// whether it is work a heartbeat adds over a bare request (summed in the report's last line).</summary>
    private sealed record Part(string Name, Func<string, string, bool> Owns, bool Heartbeats = false);

    // Checked in this order for each frame; the first part that owns a frame takes the sample.
    private static readonly Part[] Parts =
    [
        // OpenSSL's own frames (libssl, libcrypto, .NET's crypto shim) belong to whoever called them: SslStream's TLS, or
        // a certificate's hash in authentication. So no part owns them, and the walk goes on to the managed caller.
        new("TLS: SslStream and the OpenSSL it calls", (method, _) => method.StartsWith("System.Net.Security.", StringComparison.Ordinal) ||
            method.StartsWith("Interop+Ssl", StringComparison.Ordinal)),
        new("Kernel: TCP, system calls, scheduling", (_, module) => module == "vmlinux"),
        new("Runtime: GC, allocation, type checks, JIT (libcoreclr, libclrjit)", (method, module) =>
            module.StartsWith("libcoreclr", StringComparison.Ordinal) || module.StartsWith("libclrjit", StringComparison.Ordinal) ||
            method.StartsWith("System.Runtime.CompilerServices.CastHelpers", StringComparison.Ordinal) ||
            method.StartsWith("System.Runtime.CompilerServices.VirtualDispatchHelpers", StringComparison.Ordinal)),
        new("Metrics: OpenTelemetry and meters", (method, _) => method.StartsWith("OpenTelemetry.", StringComparison.Ordinal) ||
            method.StartsWith("System.Diagnostics.Metrics.", StringComparison.Ordinal) ||
            method.StartsWith("Orchestrator.Observability.", StringComparison.Ordinal), Heartbeats: true),
        new("Logging: Serilog and ILogger", (method, _) => method.StartsWith("Serilog", StringComparison.Ordinal) ||
            method.StartsWith("Microsoft.Extensions.Logging.", StringComparison.Ordinal), Heartbeats: true),
        new("JSON: System.Text.Json", (method, _) => method.StartsWith("System.Text.Json.", StringComparison.Ordinal), Heartbeats: true),
        new("Authentication: certificate, token, revocation (ours and ASP.NET Core's)", (method, _) =>
            method.StartsWith("Orchestrator.Certificates.", StringComparison.Ordinal) ||
            method.StartsWith("Microsoft.AspNetCore.Authentication", StringComparison.Ordinal) ||
            method.StartsWith("Microsoft.AspNetCore.Authorization", StringComparison.Ordinal) ||
            method.StartsWith("System.Security.Claims.", StringComparison.Ordinal), Heartbeats: true),
        new("The heartbeat itself: validation, state cache, buffer, answer", (method, _) =>
            method.StartsWith("Orchestrator.Agents.", StringComparison.Ordinal) || method.StartsWith("Orchestrator.Tasks.", StringComparison.Ordinal) ||
            method.StartsWith("Orchestrator.Data.", StringComparison.Ordinal), Heartbeats: true),
        new("Our middleware: response headers, text rules, problem details", (method, _) =>
            method.StartsWith("Orchestrator.", StringComparison.Ordinal)),
        new("Kestrel, routing and the request pipeline", (method, _) => method.StartsWith("Microsoft.AspNetCore.", StringComparison.Ordinal) ||
            method.StartsWith("System.IO.Pipelines.", StringComparison.Ordinal) || method.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal) ||
            method.Contains("GeneratedRouteBuilderExtensions", StringComparison.Ordinal)),
        new("Sockets (managed) and libc", (method, module) => method.StartsWith("System.Net.Sockets.", StringComparison.Ordinal) ||
            module.StartsWith("libc.so", StringComparison.Ordinal) || module.StartsWith("libSystem.Native", StringComparison.Ordinal)),
        new("Thread pool, async state machines, tasks", (method, _) => method.StartsWith("System.Threading.", StringComparison.Ordinal) ||
            method.StartsWith("System.Runtime.CompilerServices.", StringComparison.Ordinal)),
    ];

    public const string Other = "Anything else";

    public sealed record Result(string Load, double RequestsPerSecond, int Samples, double CpuMsPerRequest, Dictionary<string, double> Shares,
        string? Unavailable)
    {
        public static Result Failed(string load, string why) => new(load, 0, 0, 0, [], why);
    }

    public static IEnumerable<string> PartNames => Parts.Select(p => p.Name).Append(Other);

    /// <summary>The share of a profile's samples in the parts a heartbeat adds over a bare request.</summary>
    public static double HeartbeatShare(Result profile) => Parts.Where(p => p.Heartbeats).Sum(p => profile.Shares[p.Name]);

    /// <summary>Runs <paramref name="send"/> as a measured load while the service is sampled; the trace covers the
    /// measurement (and the warm-up before it, the same load).</summary>
    public static async Task<Result> RunAsync(ServiceProcess service, string name, List<Fleet.Agent> agents,
        Func<Fleet.Agent, Task<HttpResponseMessage>> send, Settings settings, string workDirectory)
    {
        var tool = DotnetTrace();
        if (tool is null)
        {
            return Result.Failed(name, "dotnet-trace is not installed (bench/run.sh installs it into bench/out/tools)");
        }

        var file = Path.Combine(workDirectory, $"cpu-{Guid.NewGuid():N}.nettrace");
        var seconds = settings.Warmup + settings.Seconds;
        var start = new ProcessStartInfo(tool,
            ["collect-linux", "-p", service.Pid.ToString(CultureInfo.InvariantCulture), "--profile", "cpu-sampling",
             "--duration", TimeSpan.FromSeconds(seconds).ToString(@"dd\:hh\:mm\:ss", CultureInfo.InvariantCulture), "-o", file])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var trace = Process.Start(start)!;
        var output = trace.StandardOutput.ReadToEndAsync();
        var errors = trace.StandardError.ReadToEndAsync();

        double cpuBefore = 0, cpuAfter = 0;
        var load = await Load.RunAsync($"{name} (sampled)", agents, send, settings, measuring =>
        {
            if (measuring)
            {
                cpuBefore = CpuSeconds(service.Pid);
            }
            else
            {
                cpuAfter = CpuSeconds(service.Pid);
            }
        });
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120)))
        {
            await trace.WaitForExitAsync(timeout.Token);
        }

        if (trace.ExitCode != 0 || !File.Exists(file))
        {
            var said = (await output + await errors).Trim();
            return Result.Failed(name, $"dotnet-trace collect-linux exited {trace.ExitCode}: {said[Math.Max(0, said.Length - 300)..]}");
        }

        var (samples, shares) = Attribute(file, service.Pid);
        var cpuMs = (cpuAfter - cpuBefore) * 1000 / Math.Max(1, load.Requests);
        Console.WriteLine($"  {name}: {samples} CPU samples, {cpuMs:F3} ms of CPU a request");
        return new Result(name, load.PerSecond, samples, cpuMs, shares, null);
    }

    /// <summary>Each sample of the process charged to its part; the shares add up to 1.</summary>
    private static (int Samples, Dictionary<string, double> Shares) Attribute(string nettrace, int pid)
    {
        var etlx = TraceLog.CreateFromEventPipeDataFile(nettrace);
        using var log = new TraceLog(etlx);
        var counts = PartNames.ToDictionary(n => n, _ => 0);
        var samples = 0;
        foreach (var sample in log.Events)
        {
            if (sample.ProcessID != pid || !sample.EventName.EndsWith("cpu", StringComparison.Ordinal) || sample.CallStack() is not { } stack)
            {
                continue;
            }

            samples++;
            var part = Other;
            var inOpenSsl = false;
            for (var frame = stack; frame is not null && part == Other; frame = frame.Caller)
            {
                var method = frame.CodeAddress.FullMethodName ?? "";
                var module = frame.CodeAddress.ModuleName ?? "";
                inOpenSsl |= module.StartsWith("libssl", StringComparison.Ordinal) || module.StartsWith("libcrypto", StringComparison.Ordinal);
                part = Parts.FirstOrDefault(p => p.Owns(method, module))?.Name ?? Other;
            }

            // A stack that the unwinder lost inside OpenSSL (its libraries keep no frame pointers) names no managed
            // caller; nearly all of OpenSSL's time is SslStream's, so it counts as TLS.
            counts[part == Other && inOpenSsl ? Parts[0].Name : part]++;
        }

        File.Delete(nettrace);
        File.Delete(etlx);
        return (samples, counts.ToDictionary(c => c.Key, c => samples == 0 ? 0 : (double)c.Value / samples));
    }

    /// <summary>User and system CPU time the process has used, from /proc.</summary>
    private static double CpuSeconds(int pid)
    {
        // Fields after the command name (which may hold spaces, so it is skipped by its closing parenthesis).
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return ticks / 100.0; // USER_HZ
    }

    private static string? DotnetTrace()
    {
        var installed = Path.GetFullPath(Path.Combine("bench", "out", "tools", "dotnet-trace"));
        return Environment.GetEnvironmentVariable("DOTNET_TRACE") is { Length: > 0 } given ? given : File.Exists(installed) ? installed : null;
    }
}
