using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Orchestrator.Agent;

/// <summary>The agent's spans. A task arrives with the trace it belongs to (<c>traceParent</c>); the agent's work on it
/// (<c>task.execute</c>) and the request that reports its outcome (<c>task.report</c>) continue that trace, so the
/// operator's request, the server's delivery, the agent's work and the server's completion are one trace.</summary>
public static class AgentTelemetry
{
    public const string Name = "Orchestrator.Agent";

    public static readonly ActivitySource Source = new(Name);

    /// <summary>A span continuing <paramref name="traceParent"/>: recorded when tracing is on; otherwise, for a task that
    /// came with a trace, a bare activity that records nothing and only carries the trace on (HttpClient sends the
    /// current activity's context), so the server still sees the agent's requests in the task's trace.</summary>
    public static Activity? Continue(string name, string? traceParent, ActivityKind kind)
    {
        if (traceParent is null || !ActivityContext.TryParse(traceParent, null, out var parent))
        {
            return Source.StartActivity(name, kind);
        }

        return Source.StartActivity(name, kind, parent) ?? new Activity(name).SetParentId(traceParent).Start();
    }

    /// <summary>Exports the agent's spans (and its HTTP calls) by OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> or
    /// <c>OTEL_EXPORTER_OTLP_TRACES_ENDPOINT</c> is set and <c>OTEL_SDK_DISABLED</c> is not true; null otherwise. The
    /// exporter reads the other <c>OTEL_*</c> variables itself. Disposing it sends what is left.</summary>
    public static TracerProvider? StartTracing(IConfiguration configuration)
    {
        var endpoint = configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"];
        if (string.IsNullOrWhiteSpace(endpoint) ||
            string.Equals(configuration["OTEL_SDK_DISABLED"], "true", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        return Sdk.CreateTracerProviderBuilder()
            .ConfigureResource(resource => resource.AddService(configuration["OTEL_SERVICE_NAME"] ?? "orchestrator-agent"))
            .AddSource(Name)
            .AddHttpClientInstrumentation()
            .AddOtlpExporter()
            .Build();
    }
}
