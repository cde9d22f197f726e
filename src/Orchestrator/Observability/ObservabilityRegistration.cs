using System.Diagnostics.Metrics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orchestrator.Hosting;
using Orchestrator.Security;

namespace Orchestrator.Observability;

public static class ObservabilityRegistration
{
    /// <summary>The meters exported besides Orchestrator's own: ASP.NET Core's request duration and active requests,
    /// Kestrel's connections and TLS handshakes, and the runtime's and process's (GC, thread pool, CPU, memory).</summary>
    private static readonly string[] PlatformMeters =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Diagnostics",
        "Microsoft.AspNetCore.Authentication",
        "Microsoft.AspNetCore.Authorization",
    ];

    /// <summary>OpenTelemetry metrics with the Prometheus exporter behind <c>/metrics</c>, unless
    /// <c>Orchestrator:Metrics:Enabled</c> is false (then nothing listens to the meters, and recording costs nearly
    /// nothing); and traces, when an OTLP endpoint is set (<see cref="TracingOptions"/>).</summary>
    public static WebApplicationBuilder AddObservability(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<MetricsOptions, MetricsOptionsValidator>(MetricsOptions.Section);
        var metrics = builder.Configuration.GetSection(MetricsOptions.Section).Get<MetricsOptions>() ?? new MetricsOptions();
        var tracing = TracingOptions.Decide(builder.Configuration);
        if (!metrics.Enabled && !tracing.Enabled)
        {
            return builder;
        }

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(builder.Configuration["OTEL_SERVICE_NAME"] ?? "orchestrator"));
        if (metrics.Enabled)
        {
            builder.Services.AddSingleton<FleetCensus>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<FleetCensus>());
            telemetry.WithMetrics(meters =>
            {
                meters.AddMeter(Telemetry.Name)
                    .AddMeter(PlatformMeters)
                    .AddRuntimeInstrumentation()
                    .AddProcessInstrumentation()
                    .AddPrometheusExporter();
                // The view needs this host's meter factory, known once the provider is built from the host's services.
                ((IDeferredMeterProviderBuilder)meters).Configure((services, built) =>
                    built.AddView(OnlyThisHost(services.GetRequiredService<IMeterFactory>())));
            });
        }

        if (tracing.Enabled)
        {
            telemetry.WithTracing(traces =>
            {
                traces.AddSource(Telemetry.Name)
                    .AddAspNetCoreInstrumentation(requests => requests.RecordException = true)
                    .AddHttpClientInstrumentation()
                    .AddEntityFrameworkCoreInstrumentation();
                if (tracing.Otlp)
                {
                    traces.AddOtlpExporter();
                }
            });
        }

        return builder;
    }

    /// <summary>How many series (attribute combinations) a stream holds; more are counted in one series labelled
    /// <c>otel_metric_overflow="true"</c>. OpenTelemetry reserves room for its default of 2,000 up front, about 180 kB a
    /// stream, so some 60 streams cost 11 MB a host before anything is recorded (measured in the test processes, where
    /// that was four fifths of the heap). Every stream here has attributes with a few values each (statuses, reasons,
    /// GC generations, Kestrel's protocol and TLS versions), so 100 leaves room to spare.</summary>
    public const int SeriesPerStream = 100;

    /// <summary>The streams keyed by route (about 70) times method and status code keep OpenTelemetry's 2,000.</summary>
    private static readonly HashSet<string> RouteStreams = ["http.server.request.duration", "aspnetcore.routing.match_attempts"];

    /// <summary>Meters made by another host's factory in the same process (test hosts side by side, a benchmark's
    /// baseline host) share names with this host's: without this view each host would export the sum of all of them.
    /// Meters without a factory (runtime, process) are the process's and stay. What stays is sized by
    /// <see cref="SeriesPerStream"/>; a histogram keeps the bucket boundaries its instrument advises.</summary>
    private static Func<Instrument, MetricStreamConfiguration?> OnlyThisHost(IMeterFactory own) =>
        instrument => instrument.Meter.Scope is IMeterFactory factory && !ReferenceEquals(factory, own) ? MetricStreamConfiguration.Drop
            : RouteStreams.Contains(instrument.Name) ? null
            : new MetricStreamConfiguration { CardinalityLimit = SeriesPerStream };

    /// <summary><c>GET /metrics</c> in the Prometheus text format, open or behind an API key of any role
    /// (<c>Orchestrator:Metrics:RequireApiKey</c>); not mapped when metrics are off.</summary>
    public static IEndpointRouteBuilder MapMetrics(this IEndpointRouteBuilder routes)
    {
        var options = routes.ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<MetricsOptions>>().Value;
        if (!options.Enabled)
        {
            return routes;
        }

        var endpoint = routes.MapPrometheusScrapingEndpoint("/metrics");
        if (options.RequireApiKey)
        {
            endpoint.RequireAuthorization(Policies.Viewer);
        }

        return routes;
    }
}
