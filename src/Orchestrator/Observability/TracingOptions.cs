namespace Orchestrator.Observability;

/// <summary>When the service records traces. OpenTelemetry's own variables do the rest: <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>
/// (or <c>OTEL_EXPORTER_OTLP_TRACES_ENDPOINT</c>) turns tracing on and says where spans go, <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>
/// picks gRPC or HTTP, <c>OTEL_SERVICE_NAME</c> renames the service, <c>OTEL_SDK_DISABLED=true</c> turns it off.</summary>
public sealed class TracingOptions
{
    public const string Section = "Orchestrator:Tracing";

    /// <summary>True records spans even without an OTLP endpoint (for exporters added another way); false never records
    /// them; unset (the default) records them when an OTLP endpoint is set.</summary>
    public bool? Enabled { get; set; }

    /// <summary>Whether traces are recorded, and whether they are sent by OTLP, from the configuration.</summary>
    public static (bool Enabled, bool Otlp) Decide(IConfiguration configuration)
    {
        var otlp = !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]) ||
                   !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
        if (string.Equals(configuration["OTEL_SDK_DISABLED"], "true", StringComparison.OrdinalIgnoreCase))
        {
            return (false, false);
        }

        var enabled = configuration.GetSection(Section).GetValue<bool?>(nameof(Enabled)) ?? otlp;
        return (enabled, enabled && otlp);
    }
}
