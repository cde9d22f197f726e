using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Orchestrator.Hosting;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Orchestrator.Web;

public static class Logging
{
    /// <summary>The console sink's line.</summary>
    public const string ConsoleTemplate = "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}";

    /// <summary>Serilog per host (no static logger, so test hosts can run side by side). Console text by default,
    /// compact JSON with <c>Orchestrator:Logging:Format=json</c>, no console with <c>Orchestrator:Logging:Console=false</c>
    /// (sinks from Serilog configuration remain). Sinks registered in DI (tests) are added too.</summary>
    public static IServiceCollection AddOrchestratorLogging(this IServiceCollection services)
    {
        services.AddValidatedOptions<LoggingOptions, LoggingOptionsValidator>(LoggingOptions.Section);
        services.AddSerilog((sp, logger) =>
        {
            var configuration = sp.GetRequiredService<IConfiguration>();
            var settings = sp.GetRequiredService<IOptions<LoggingOptions>>().Value;
            logger.ReadFrom.Configuration(configuration)
                .ReadFrom.Services(sp)
                .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
                .MinimumLevel.Override("Microsoft.EntityFrameworkCore", LogEventLevel.Warning)
                .Enrich.FromLogContext()
                // Last, so it sees the properties every other enricher added.
                .Enrich.With<LogValueEscaper>();
            if (!settings.Console)
            {
                return;
            }

            if (settings.Format == "json")
            {
                logger.WriteTo.Console(new CompactJsonFormatter());
            }
            else
            {
                logger.WriteTo.Console(outputTemplate: ConsoleTemplate);
            }
        },
        // Each host keeps its own logger: the static Log.Logger is replaced by every host that starts, so hosts side
        // by side (tests, benchmarks) would write each other's lines.
        preserveStaticLogger: true);
        CacheLoggersByCategory(services);
        return services;
    }

    /// <summary>Serilog's <see cref="ILoggerFactory"/> builds a new logger (and its caches) on every <c>CreateLogger</c>
    /// call, where Microsoft's keeps one per category. The authentication handlers are created per request and ask for
    /// one each time, so every request built a logger, and every open task stream kept its own for its lifetime.</summary>
    private static void CacheLoggersByCategory(IServiceCollection services)
    {
        var serilog = services.Last(d => d.ServiceType == typeof(ILoggerFactory));
        services.Remove(serilog);
        // The container disposed what it built, never an instance it was given: so does the wrapper.
        services.AddSingleton<ILoggerFactory>(sp => serilog.ImplementationInstance is ILoggerFactory given
            ? new CategoryCachingLoggerFactory(given, ownsInner: false)
            : new CategoryCachingLoggerFactory((ILoggerFactory)(serilog.ImplementationFactory?.Invoke(sp)
                ?? ActivatorUtilities.CreateInstance(sp, serilog.ImplementationType!)), ownsInner: true));
    }

    private sealed class CategoryCachingLoggerFactory(ILoggerFactory inner, bool ownsInner) : ILoggerFactory
    {
        private readonly ConcurrentDictionary<string, Microsoft.Extensions.Logging.ILogger> _loggers = new(StringComparer.Ordinal);

        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => _loggers.GetOrAdd(categoryName, inner.CreateLogger);

        public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

        public void Dispose()
        {
            if (ownsInner)
            {
                inner.Dispose();
            }
        }
    }

    /// <summary>One line per request with method, path (never the query or headers), status and time.</summary>
    public static WebApplication UseOrchestratorRequestLogging(this WebApplication app)
    {
        app.UseSerilogRequestLogging(options =>
        {
            // The host's own logger, not the static one (see AddOrchestratorLogging).
            options.Logger = app.Services.GetRequiredService<Serilog.ILogger>();
            options.MessageTemplate = "HTTP {RequestMethod} {RequestPath} responded {StatusCode} in {Elapsed:0.0} ms";
            // 503 is the service waiting out the database or shedding load, not a fault: a warning, like the line that
            // says why.
            options.GetLevel = (context, _, exception) => context.Response.StatusCode switch
            {
                StatusCodes.Status503ServiceUnavailable => LogEventLevel.Warning,
                >= 500 => LogEventLevel.Error,
                _ when exception is not null => LogEventLevel.Error,
                _ => LogEventLevel.Information,
            };
        });
        return app;
    }
}

public sealed class LoggingOptions
{
    public const string Section = "Orchestrator:Logging";

    /// <summary><c>console</c> (human readable) or <c>json</c> (one compact JSON object per line).</summary>
    [RegularExpression("^(console|json)$", ErrorMessage = "Orchestrator:Logging:Format must be 'console' or 'json'.")]
    public string Format { get; set; } = "console";

    /// <summary>False turns the console sink off (sinks from Serilog configuration remain).</summary>
    public bool Console { get; set; } = true;
}

[OptionsValidator]
internal sealed partial class LoggingOptionsValidator : IValidateOptions<LoggingOptions>;
