using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text.Json;

namespace Orchestrator.Agent.Tests.Support;

/// <summary>A real OTLP receiver: the Aspire dashboard's standalone binary (from the NuGet package the test project
/// downloads), on loopback ports of its own, read back through its own API (<c>GET /api/telemetry/traces/{id}</c>,
/// OTLP JSON). Stopped by the PID it was started with.</summary>
public sealed class AspireDashboard : IAsyncDisposable
{
    private readonly Process _process;
    private readonly HttpClient _api;

    private AspireDashboard(Process process, Uri api, Uri otlpGrpc)
    {
        _process = process;
        _api = new HttpClient { BaseAddress = api };
        OtlpGrpc = otlpGrpc;
    }

    /// <summary>Where OTLP over gRPC is received (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>).</summary>
    public Uri OtlpGrpc { get; }

    private static string Binary => typeof(AspireDashboard).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "AspireDashboard").Value!;

    public static async Task<AspireDashboard> StartAsync()
    {
        var (web, grpc, http) = (FreePort(), FreePort(), FreePort());
        var start = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{web}";
        start.Environment["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] = $"http://127.0.0.1:{grpc}";
        start.Environment["ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL"] = $"http://127.0.0.1:{http}";
        start.Environment["ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS"] = "true";
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var dashboard = new AspireDashboard(process, new Uri($"http://127.0.0.1:{web}"), new Uri($"http://127.0.0.1:{grpc}"));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                using var ready = await dashboard._api.GetAsync("/api/telemetry/traces");
                if (ready.IsSuccessStatusCode)
                {
                    return dashboard;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                // Not listening yet.
            }

            Assert.True(DateTime.UtcNow < deadline && !process.HasExited, "The Aspire dashboard did not start.");
            await Task.Delay(100);
        }
    }

    /// <summary>The spans the dashboard holds for one trace, as (service, span name, span id, parent span id).</summary>
    public async Task<List<(string Service, string Name, string SpanId, string ParentSpanId)>> SpansAsync(ActivityTraceId trace)
    {
        using var response = await _api.GetAsync($"/api/telemetry/traces/{trace.ToHexString()}");
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return [];
        }

        using var json = JsonDocument.Parse(await response.EnsureSuccessStatusCode().Content.ReadAsStringAsync());
        var spans = new List<(string, string, string, string)>();
        foreach (var resource in json.RootElement.GetProperty("data").GetProperty("resourceSpans").EnumerateArray())
        {
            var service = resource.GetProperty("resource").GetProperty("attributes").EnumerateArray()
                .First(a => a.GetProperty("key").GetString() == "service.name").GetProperty("value").GetProperty("stringValue").GetString()!;
            foreach (var span in resource.GetProperty("scopeSpans").EnumerateArray().SelectMany(s => s.GetProperty("spans").EnumerateArray()))
            {
                spans.Add((service, span.GetProperty("name").GetString()!, span.GetProperty("spanId").GetString()!,
                    span.TryGetProperty("parentSpanId", out var parent) ? parent.GetString() ?? "" : ""));
            }
        }

        return spans;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        _api.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
