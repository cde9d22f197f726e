using Orchestrator.Agent.Executors;

namespace Orchestrator.Agent.Listener;

/// <summary>What the agent can do, for registration and every heartbeat: <c>docker</c> while the Docker Engine answers,
/// <c>compose</c> while a compose CLI works (checked every few minutes: it starts a process), and the operator's
/// <c>--capability</c> values. An engine that answered before and stops answering makes the agent <c>degraded</c>.</summary>
public sealed class CapabilityDetector(AgentSettings settings, DockerEngine docker, TimeProvider time)
{
    private static readonly TimeSpan ComposeRecheck = TimeSpan.FromMinutes(5);
    private ComposeCli? _compose;
    private DateTimeOffset _composeCheckedAt = DateTimeOffset.MinValue;
    private bool _dockerSeen;

    public ComposeCli? Compose => _compose;

    public async Task<(IReadOnlyList<string> Capabilities, bool Degraded)> CurrentAsync(CancellationToken cancellationToken)
    {
        var capabilities = new SortedSet<string>(settings.Capabilities, StringComparer.Ordinal);
        if (!settings.DetectCapabilities)
        {
            return ([.. capabilities], false);
        }

        var dockerUp = await docker.PingAsync(cancellationToken);
        _dockerSeen |= dockerUp;
        if (dockerUp)
        {
            capabilities.Add("docker");
        }

        if (time.GetUtcNow() - _composeCheckedAt >= ComposeRecheck)
        {
            _compose = await ComposeCli.FindAsync(docker.Host);
            _composeCheckedAt = time.GetUtcNow();
        }

        if (_compose is not null && dockerUp)
        {
            capabilities.Add("compose");
        }

        return ([.. capabilities], _dockerSeen && !dockerUp);
    }
}
