using Microsoft.Extensions.Options;
using Orchestrator.Client;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="OrchestratorClient"/> for dependency injection.</summary>
public static class OrchestratorClientServiceCollectionExtensions
{
    /// <summary>Registers <see cref="OrchestratorClient"/> as a typed client of <c>IHttpClientFactory</c>: its primary handler
    /// pins <see cref="OrchestratorClientOptions.Trust"/>, and the client's retry pipeline (Polly, the same as a client made
    /// with <c>new</c>) runs as its resilience handler. The options are validated when the host starts. The returned builder
    /// adds handlers of your own below the retries (each attempt passes through them).</summary>
    public static IHttpClientBuilder AddOrchestratorClient(this IServiceCollection services, Action<OrchestratorClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<OrchestratorClientOptions>()
            .Configure(configure)
            .Validate(o => o.Server is { IsAbsoluteUri: true } server && (server.Scheme == Uri.UriSchemeHttps || server.Scheme == Uri.UriSchemeHttp),
                "OrchestratorClientOptions.Server must be the absolute http(s) address of the service.")
            .Validate(o => o.Retry is { MaxAttempts: >= 1 } retry && retry.BaseDelay >= TimeSpan.Zero && retry.MaxDelay >= TimeSpan.Zero,
                "OrchestratorClientOptions.Retry needs MaxAttempts of at least 1 and delays that are not negative.")
            .Validate(o => o.Timeout > TimeSpan.Zero || o.Timeout == Timeout.InfiniteTimeSpan,
                "OrchestratorClientOptions.Timeout must be positive (or infinite).")
            .Validate(o => o.Time is not null && !string.IsNullOrWhiteSpace(o.UserAgent),
                "OrchestratorClientOptions.Time and UserAgent must be set.")
            .ValidateOnStart();

        var client = services.AddHttpClient(nameof(OrchestratorClient))
            .AddTypedClient((http, provider) => new OrchestratorClient(http, Options(provider), apiKey: null, pinsItsOwnTrust: true))
            .ConfigureHttpClient((provider, http) => Options(provider).Configure(http))
            .ConfigurePrimaryHttpMessageHandler(provider => Options(provider).CreateHandler());
        client.AddResilienceHandler(ClientResilience.PipelineName, (pipeline, context) => ClientResilience.Configure(pipeline,
            Options(context.ServiceProvider)));
        // Added after the resilience handler, so below it: each attempt is timed (and its body read) on its own.
        return client.AddHttpMessageHandler(provider => new AttemptHandler(Options(provider).Timeout));
    }

    private static OrchestratorClientOptions Options(IServiceProvider provider) =>
        provider.GetRequiredService<IOptions<OrchestratorClientOptions>>().Value;
}
