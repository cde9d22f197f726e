using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Orchestrator.Contracts;

namespace Orchestrator.Client;

/// <summary>Sends one API call: serialises with the shared contracts, turns any non-success answer into
/// <see cref="OrchestratorApiException"/>, and marks the request <see cref="ClientResilience.Idempotent"/> when the caller
/// says it is, so the client's retry pipeline may send it again after a transient failure.</summary>
internal sealed class ApiTransport(TimeProvider time)
{
    private static readonly MediaTypeWithQualityHeaderValue JsonMedia = new("application/json");

    /// <summary>Sends the request through <c>send</c> (the client whose handlers retry it).</summary>
    public async Task<T> SendAsync<T>(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> send, HttpMethod method,
        string path, Func<HttpContent>? body, JsonTypeInfo<T>? answer, bool idempotent, CancellationToken cancellationToken,
        Action<HttpRequestMessage>? prepare = null) =>
        (await SendWithLinkAsync(send, method, path, body, answer, idempotent, cancellationToken, prepare)).Value;

    /// <summary>As <see cref="SendAsync{T}"/>, with the <c>after</c> cursor of the answer's <c>Link: rel="next"</c>.</summary>
    public Task<(T Value, string? NextAfter)> SendWithLinkAsync<T>(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> send,
        HttpMethod method, string path, Func<HttpContent>? body, JsonTypeInfo<T>? answer, bool idempotent, CancellationToken cancellationToken,
        Action<HttpRequestMessage>? prepare = null) =>
        SendCoreAsync<T>(send, method, path, body, answer is null ? (_, _) => Task.FromResult(default(T)!) : (r, ct) => ReadAsync(r, answer, ct),
            idempotent, cancellationToken, prepare);

    public async Task<(T Value, string? NextAfter)> SendCoreAsync<T>(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> send,
        HttpMethod method, string path, Func<HttpContent>? body, Func<HttpResponseMessage, CancellationToken, Task<T>> read, bool idempotent,
        CancellationToken cancellationToken, Action<HttpRequestMessage>? prepare = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body?.Invoke() };
        request.Headers.Accept.Add(JsonMedia);
        request.Options.Set(ClientResilience.Idempotent, idempotent);
        prepare?.Invoke(request);
        using var response = await send(request, cancellationToken);
        if (response.IsSuccessStatusCode)
        {
            return (await read(response, cancellationToken), NextAfter(response));
        }

        throw await FailureAsync(response, cancellationToken, time);
    }

    /// <summary>The next page's cursor from <c>Link: &lt;…?after=X&gt;; rel="next"</c>.</summary>
    private static string? NextAfter(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Link", out var links))
        {
            return null;
        }

        foreach (var link in links.SelectMany(l => l.Split(',')))
        {
            var parts = link.Split(';', StringSplitOptions.TrimEntries);
            if (parts.Length < 2 || !parts.Skip(1).Any(p => p.Replace(" ", "", StringComparison.Ordinal) is "rel=\"next\"" or "rel=next"))
            {
                continue;
            }

            var target = parts[0].Trim('<', '>');
            var query = target.IndexOf('?', StringComparison.Ordinal) is var q and >= 0 ? target[(q + 1)..] : "";
            foreach (var pair in query.Split('&'))
            {
                if (pair.StartsWith("after=", StringComparison.Ordinal))
                {
                    return Uri.UnescapeDataString(pair["after=".Length..]);
                }
            }
        }

        return null;
    }

    public static Func<HttpContent> Json<T>(T value, JsonTypeInfo<T> type) => () => JsonContent.Create(value, type);

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> answer, CancellationToken cancellationToken)
    {
        var value = await response.Content.ReadFromJsonAsync(answer, cancellationToken);
        return value ?? throw new InvalidDataException($"The server answered {(int)response.StatusCode} with an empty body.");
    }

    /// <summary>The problem an answer carries, with its <c>Retry-After</c> (a date counted from <paramref name="time"/>'s now).</summary>
    public static async Task<OrchestratorApiException> FailureAsync(HttpResponseMessage response, CancellationToken cancellationToken,
        TimeProvider? time = null)
    {
        ProblemDocument? problem = null;
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.Content.Headers.ContentType?.MediaType is "application/problem+json" or "application/json" && text.Length > 0)
        {
            try
            {
                problem = JsonSerializer.Deserialize(text, OrchestratorJsonContext.Default.ProblemDocument);
            }
            catch (JsonException)
            {
                // Not ours (a proxy's page): describe it below.
            }
        }

        problem ??= new ProblemDocument(null, response.ReasonPhrase ?? response.StatusCode.ToString(), (int)response.StatusCode,
            text.Length is > 0 and <= 512 ? text.Trim() : null, null, null, null);
        return new OrchestratorApiException(response.StatusCode, problem, ClientResilience.RetryAfter(response, time ?? TimeProvider.System));
    }

    public static string Query(string path, params (string Name, string? Value)[] parameters)
    {
        var given = parameters.Where(p => p.Value is not null).Select(p => $"{Uri.EscapeDataString(p.Name)}={Uri.EscapeDataString(p.Value!)}").ToList();
        return given.Count == 0 ? path : $"{path}?{string.Join('&', given)}";
    }

    public static string? Text(int? value) => value?.ToString(CultureInfo.InvariantCulture);

    public static bool IsNotFound(OrchestratorApiException ex) => ex.Status == HttpStatusCode.NotFound;
}
