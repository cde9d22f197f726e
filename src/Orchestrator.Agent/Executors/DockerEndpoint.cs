using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;

namespace Orchestrator.Agent.Executors;

/// <summary>Which Docker Engine the agent drives, found the way Docker's own CLI finds it, so an agent started beside a
/// working <c>docker</c> command talks to the same engine: <c>--docker-host</c> (or <c>OrchestratorAgent__DockerHost</c>),
/// else <c>DOCKER_HOST</c>, else the context named by <c>DOCKER_CONTEXT</c> or by <c>currentContext</c> in the CLI's
/// <c>config.json</c>, else the default socket. <see cref="Source"/> says which, for the start-up log.</summary>
public sealed record DockerEndpoint(string Host, string Source)
{
    public const string DefaultHost = "unix:///var/run/docker.sock";

    /// <summary><paramref name="configured"/>: the flag or setting, when given. <paramref name="environment"/>: the process
    /// environment as configuration (DOCKER_HOST, DOCKER_CONTEXT, DOCKER_CONFIG, HOME).</summary>
    public static DockerEndpoint Resolve(string? configured, IConfiguration environment)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            return new DockerEndpoint(configured, "--docker-host");
        }

        if (environment["DOCKER_HOST"] is { Length: > 0 } host)
        {
            return new DockerEndpoint(host, "DOCKER_HOST");
        }

        var configDirectory = environment["DOCKER_CONFIG"] is { Length: > 0 } dir ? dir
            : environment["HOME"] is { Length: > 0 } home ? Path.Combine(home, ".docker") : null;
        var context = environment["DOCKER_CONTEXT"] is { Length: > 0 } named ? (Name: named, From: "DOCKER_CONTEXT")
            : CurrentContext(configDirectory) is { } current ? (Name: current, From: "config.json currentContext") : default;
        if (context.Name is not null && context.Name != "default" && configDirectory is not null
            && ContextHost(configDirectory, context.Name) is { } contextHost)
        {
            return new DockerEndpoint(contextHost, $"context '{context.Name}' ({context.From})");
        }

        return new DockerEndpoint(DefaultHost, "default");
    }

    private static string? CurrentContext(string? configDirectory) =>
        configDirectory is null ? null : Read(Path.Combine(configDirectory, "config.json"), root =>
            root.TryGetProperty("currentContext", out var current) && current.ValueKind == JsonValueKind.String ? current.GetString() : null);

    /// <summary>The CLI keeps a context's endpoint in <c>contexts/meta/&lt;sha256 of the name&gt;/meta.json</c>.</summary>
    private static string? ContextHost(string configDirectory, string name)
    {
        var id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)));
        return Read(Path.Combine(configDirectory, "contexts", "meta", id, "meta.json"), root =>
            root.TryGetProperty("Endpoints", out var endpoints) && endpoints.TryGetProperty("docker", out var docker)
            && docker.TryGetProperty(nameof(Host), out var host) && host.ValueKind == JsonValueKind.String ? host.GetString() : null);
    }

    private static string? Read(string file, Func<JsonElement, string?> pick)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(file));
            return document.RootElement.ValueKind == JsonValueKind.Object ? pick(document.RootElement) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            // No CLI configuration, or one we cannot read: Docker's CLI falls back to the default too.
            return null;
        }
    }
}
