using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;

namespace Orchestrator.Http;

public static class ProblemHandling
{
    /// <summary>Every error is RFC 9457 problem details: exceptions, bad request bodies, unknown routes, wrong methods.</summary>
    public static IServiceCollection AddOrchestratorProblemDetails(this IServiceCollection services)
    {
        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            context.ProblemDetails.Instance ??= context.HttpContext.Request.Path;
            context.ProblemDetails.Extensions.Remove("exception");
            context.ProblemDetails.Extensions["traceId"] = context.HttpContext.TraceIdentifier;
        });
        services.AddExceptionHandler<BadRequestExceptionHandler>();
        services.AddExceptionHandler<TransientFailureHandler>();

        // Binding failures throw instead of answering an empty 400, so the handler can say what was wrong.
        services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        return services;
    }

    public static WebApplication UseOrchestratorProblemDetails(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }
}

/// <summary>The one place that turns the database's passing trouble (down, restarting, out of connections, stalled
/// past the command timeout, a SQLite file locked too long) into 503 problem details with <c>Retry-After</c>, wherever
/// in a request it happened: agents and the CLI back off and retry instead of reporting a fault (see
/// <see cref="TransientFailures"/>). One warning line per answer, without a stack trace: during an outage that is
/// what an operator wants to read, and the readiness check says the same.</summary>
internal sealed class TransientFailureHandler(IProblemDetailsService problemDetails, ILogger<TransientFailureHandler> logger)
    : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (!TransientFailures.IsTransient(exception))
        {
            return false;
        }

        var retryAfter = TransientFailures.RetryAfterSeconds();
        logger.AnsweredUnavailable(httpContext.Request.Method, httpContext.Request.Path, retryAfter, exception.GetType().Name, exception.Message);
        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        return await problemDetails.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "Service unavailable",
                Detail = $"The database is unavailable or overloaded; retry after {retryAfter} seconds.",
            },
        });
    }
}

/// <summary>Turns request-reading failures (malformed JSON, wrong types, missing fields, bodies over the limit)
/// into 4xx problem details that name the problem. Anything else stays a logged 500.</summary>
internal sealed class BadRequestExceptionHandler(IProblemDetailsService problemDetails) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException badRequest)
        {
            return false;
        }

        var status = badRequest.StatusCode;
        var detail = Describe(badRequest, httpContext);
        httpContext.Response.StatusCode = status;
        return await problemDetails.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = new ProblemDetails
            {
                Status = status,
                Title = status == StatusCodes.Status413PayloadTooLarge ? "Request body too large" : "Invalid request",
                Detail = detail,
            },
        });
    }

    private static string Describe(BadHttpRequestException exception, HttpContext httpContext)
    {
        if (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return exception.Message;
        }

        // The JSON reader's message names the path ($.role) and what was expected; it never echoes values.
        for (Exception? inner = exception.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is JsonException json)
            {
                if (json.Path is null or "$")
                {
                    return $"Malformed JSON: {FirstSentence(json.Message)}";
                }

                // The converter's own words name a .NET type; say it in the API's terms instead.
                if (json.Message.StartsWith("The JSON value could not be converted", StringComparison.Ordinal) ||
                    json.InnerException is InvalidOperationException)
                {
                    // The exception handler has cleared the request's endpoint; its feature keeps the one that threw.
                    var endpoint = httpContext.Features.Get<IExceptionHandlerFeature>()?.Endpoint ?? httpContext.GetEndpoint();
                    var bodyType = endpoint?.Metadata.GetMetadata<IAcceptsMetadata>()?.RequestType;
                    return BindingProblems.AllowedValues(bodyType, json.Path) is { } allowed
                        ? $"'{json.Path}' must be one of: {string.Join(", ", allowed)}."
                        : $"'{json.Path}' has a value of the wrong type or one that is not allowed.";
                }

                return $"Invalid JSON at '{json.Path}': {FirstSentence(json.Message)}";
            }
        }

        return BindingProblems.DescribeParameter(exception.Message) ?? exception.Message;
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
