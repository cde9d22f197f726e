namespace Orchestrator.Http;

/// <summary>Headers every answer carries, and the one that answers carrying a secret carry: <c>X-Content-Type-Options:
/// nosniff</c> everywhere (a browser never second-guesses a declared type, so a JSON string cannot run as a page), and
/// <c>Cache-Control: no-store</c> on the routes marked <see cref="CarriesSecrets{TBuilder}"/> (a key, a token, a private
/// key or task credentials: no browser, proxy or client cache keeps a copy). Set as the answer starts, so error answers
/// written by the exception and status-code handlers carry them too.</summary>
public static class ResponseHeaders
{
    /// <summary>Marks routes (or a group) whose answers carry a key, a token or credentials.</summary>
    public static TBuilder CarriesSecrets<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(SecretsMetadata.Instance);

    /// <summary>Headers every answer carries, and HEAD answers without a body.</summary>
    public static WebApplication UseOrchestratorResponseHeaders(this WebApplication app)
    {
        app.Use((context, next) =>
        {
            // An answer to HEAD has no body. Kestrel's HTTP/1.1 drops what is written to one, but its HTTP/2 sends it
            // (a problem-details body of a 404 or 405, say), and clients then fail the whole exchange as a protocol
            // error instead of reading the status.
            if (HttpMethods.IsHead(context.Request.Method))
            {
                context.Response.Body = Stream.Null;
            }

            context.Response.OnStarting(static state =>
            {
                var http = (HttpContext)state;
                http.Response.Headers.XContentTypeOptions = "nosniff";
                if (http.GetEndpoint()?.Metadata.GetMetadata<SecretsMetadata>() is not null)
                {
                    http.Response.Headers.CacheControl = "no-store";
                }

                return Task.CompletedTask;
            }, context);
            return next(context);
        });
        return app;
    }

    private sealed class SecretsMetadata
    {
        public static readonly SecretsMetadata Instance = new();
    }
}
