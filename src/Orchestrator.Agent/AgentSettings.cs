namespace Orchestrator.Agent;

/// <summary>Everything <c>orchestrator-agent run</c> is told, from flags or from <c>OrchestratorAgent__&lt;Flag&gt;</c>
/// settings (flags win). See docs/agent.md.</summary>
public sealed record AgentSettings
{
    public const string DefaultDockerHost = Executors.DockerEndpoint.DefaultHost;

    public required Uri Server { get; init; }
    public required string StateDir { get; init; }

    /// <summary>The registration token (from <c>--token</c> or read from <c>--token-file</c>); only needed without a
    /// usable identity. Never logged.</summary>
    public string? Token { get; init; }
    public string? CaFile { get; init; }
    public string? CaFingerprint { get; init; }
    public string Name { get; init; } = Environment.MachineName.ToLowerInvariant();
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public IReadOnlyList<string> Capabilities { get; init; } = [];
    public int MaxTasks { get; init; } = 2;
    public string DockerHost { get; init; } = DefaultDockerHost;

    /// <summary>Where <see cref="DockerHost"/> came from (flag, DOCKER_HOST, a Docker context, default), for the log.</summary>
    public string DockerHostSource { get; init; } = "default";
    public bool AllowShell { get; init; }

    /// <summary>After a cancel or timeout, how long a task may take to stop gracefully before it is killed.</summary>
    public TimeSpan GracePeriod { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>After SIGTERM, how long running tasks may take to finish before they are cancelled.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Look for the Docker Engine and a compose CLI (capabilities <c>docker</c>, <c>compose</c>).</summary>
    public bool DetectCapabilities { get; init; } = true;

    public string Version { get; init; } = typeof(AgentSettings).Assembly.GetName().Version?.ToString(3) ?? "1.0.0";
}
