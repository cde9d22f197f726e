using Docker.DotNet;
using Docker.DotNet.Models;

namespace Orchestrator.Agent.Executors;

/// <summary>The Docker Engine the agent drives, through its API (Docker.DotNet), at <c>--docker-host</c>.</summary>
public sealed class DockerEngine : IDisposable
{
    public DockerEngine(string host)
    {
        Host = host;
        // No client-side timeout: waits and log follows last as long as their container; tokens end them.
        Client = new DockerClientBuilder().WithEndpoint(new Uri(host)).WithTimeout(Timeout.InfiniteTimeSpan).Build();
    }

    public string Host { get; }
    public DockerClient Client { get; }

    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Null when the engine answers (the <c>docker</c> capability); else why not, in one line (the error of the
    /// innermost cause: "Connection refused", "No such file or directory", the engine's own message).</summary>
    public async Task<string?> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(PingTimeout);
            await Client.System.PingAsync(timeout.Token);
            return null;
        }
        catch (Exception ex) when (ex is DockerApiException or HttpRequestException or IOException or OperationCanceledException or
                                       System.Net.Sockets.SocketException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            return ex switch
            {
                OperationCanceledException or TimeoutException => $"no answer within {PingTimeout.TotalSeconds:0} s",
                DockerApiException api => $"{(int)api.StatusCode} {ShortReason(api)}",
                _ => Innermost(ex).Message,
            };
        }
    }

    private static Exception Innermost(Exception ex) => ex.InnerException is { } inner ? Innermost(inner) : ex;

    /// <summary><c>name:tag</c> or <c>name@sha256:…</c> → (name, tag or digest); a port in the registry host is not a tag.</summary>
    public static (string Name, string? Reference) SplitReference(string image)
    {
        var at = image.IndexOf('@', StringComparison.Ordinal);
        if (at > 0)
        {
            return (image[..at], image[(at + 1)..]);
        }

        var colon = image.LastIndexOf(':');
        return colon > image.LastIndexOf('/') && colon > 0 ? (image[..colon], image[(colon + 1)..]) : (image, null);
    }

    /// <summary>Image reference → the registry that serves it, for credentials (Docker Hub when the first part is no host).</summary>
    public static string RegistryOf(string image)
    {
        var slash = image.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0)
        {
            var first = image[..slash];
            if (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost")
            {
                return first;
            }
        }

        return "https://index.docker.io/v1/";
    }

    /// <summary>Registry credentials from the task's <c>registry.username</c> / <c>registry.password</c>, if given.</summary>
    public static AuthConfig? AuthFor(string image, IReadOnlyDictionary<string, string> credentials) =>
        credentials.TryGetValue("registry.username", out var user) && credentials.TryGetValue("registry.password", out var password)
            ? new AuthConfig { Username = user, Password = password, ServerAddress = RegistryOf(image) }
            : null;

    /// <summary>Pulls an image, reporting progress; a refusal by the registry becomes a clear failure (never echoing the password).</summary>
    public async Task PullAsync(string image, string reference, TaskContext context, CancellationToken cancellationToken)
    {
        var auth = AuthFor(image, context.Credentials);
        var layers = new Dictionary<string, (long Current, long Total)>();
        var progress = new Progress<JSONMessage>(message =>
        {
            if (message.Error is { } error)
            {
                context.Log.Error(error.Message ?? "the engine reported an error");
                return;
            }

            if (message.Progress is { Total: > 0 } p && message.ID is { } id)
            {
                layers[id] = (p.Current ?? 0, p.Total!.Value);
                var total = layers.Values.Sum(l => l.Total);
                context.Progress(total == 0 ? 0 : (int)(100 * layers.Values.Sum(l => l.Current) / total), $"{message.Status} {id}");
            }
            else if (message.Status is { } status)
            {
                context.Log.Info(message.ID is null ? status : $"{message.ID}: {status}");
            }
        });

        try
        {
            await Client.Images.CreateImageAsync(new ImagesCreateParameters { FromImage = image, Tag = reference }, auth, progress, cancellationToken);
        }
        catch (DockerApiException ex)
        {
            var reason = context.Log.Redact(ShortReason(ex));
            throw new TaskFailedException(IsAuthFailure(ex)
                ? $"The registry refused the credentials for {image}: {reason}"
                : $"Could not pull {image}:{reference}: {reason}", ex);
        }

        // The engine reports some failures (a wrong password among them) in the progress stream, not as an error status.
        if (await TryInspectAsync($"{image}{(reference.StartsWith("sha256:", StringComparison.Ordinal) ? "@" : ":")}{reference}", cancellationToken) is null)
        {
            var last = context.Log.Tail.Count > 0 ? context.Log.Tail[^1] : "no reason given";
            throw new TaskFailedException(last.Contains("unauthorized", StringComparison.OrdinalIgnoreCase) ||
                                          last.Contains("authentication required", StringComparison.OrdinalIgnoreCase)
                ? $"The registry refused the credentials for {image}: {last}"
                : $"Could not pull {image}:{reference}: {last}");
        }
    }

    public async Task<ImageInspectResponse?> TryInspectAsync(string reference, CancellationToken cancellationToken)
    {
        try
        {
            return await Client.Images.InspectImageAsync(reference, cancellationToken);
        }
        catch (DockerImageNotFoundException)
        {
            return null;
        }
        catch (DockerApiException ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public static bool IsAuthFailure(DockerApiException ex) =>
        ex.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden ||
        ex.ResponseBody?.Contains("unauthorized", StringComparison.OrdinalIgnoreCase) == true ||
        ex.ResponseBody?.Contains("authentication required", StringComparison.OrdinalIgnoreCase) == true;

    public static string ShortReason(DockerApiException ex)
    {
        var body = ex.ResponseBody?.Trim() ?? "";
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(body);
            if (json.RootElement.TryGetProperty("message", out var message) && message.GetString() is { } text)
            {
                return text;
            }
        }
        catch (System.Text.Json.JsonException)
        {
            // Not JSON: use it as it is.
        }

        return body.Length > 300 ? body[..300] : body.Length > 0 ? body : ex.StatusCode.ToString();
    }

    public void Dispose() => Client.Dispose();
}
