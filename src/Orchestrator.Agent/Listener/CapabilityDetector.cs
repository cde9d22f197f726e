using Microsoft.Extensions.Logging;
using Orchestrator.Agent.Executors;

namespace Orchestrator.Agent.Listener;

/// <summary>What the agent can do, for every heartbeat: <c>docker</c> while the Docker Engine answers, <c>compose</c>
/// while a compose CLI works, and the operator's <c>--capability</c> values. The compose CLI is probed in the background
/// every few minutes (it starts a process, slow on a busy host), never on the heartbeat's path. An engine that answered
/// before and stops answering makes the agent <c>degraded</c>. A capability it looked for and did not find is reported
/// missing with the reason (<c>missingCapabilities</c>), unless the operator gave it with <c>--capability</c>.</summary>
public sealed partial class CapabilityDetector(AgentSettings settings, DockerEngine docker, TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan ComposeRecheck = TimeSpan.FromMinutes(5);

    /// <summary>How long a heartbeat waits for the engine's answer before it goes with the last one known.</summary>
    private static readonly TimeSpan PingWait = TimeSpan.FromMilliseconds(500);
    /// <summary>The service's bound on a reason; a longer one is cut.</summary>
    public const int MaxReasonLength = 512;

    private Task<string?>? _ping;
    private volatile ComposeCli? _compose;
    private volatile bool _composeProbed;
    private bool _dockerSeen;
    private bool? _dockerWasUp;
    private string? _dockerFailure;

    /// <summary>What a heartbeat reports: the capabilities, the ones looked for and not found with why, and whether the
    /// agent is degraded (its engine stopped answering).</summary>
    public sealed record Detected(IReadOnlyList<string> Capabilities, IReadOnlyDictionary<string, string> Missing, bool Degraded);

    public ComposeCli? Compose => _compose;

    /// <summary>The compose CLI for a compose task: the one the background probe found, or, when it has found none yet
    /// (a task that arrives in the agent's first seconds, or after a CLI was installed), a probe made now, so such a
    /// task does not fail only because the periodic probe has not run.</summary>
    public async Task<ComposeCli?> ComposeForTaskAsync() => _compose ??= await ComposeCli.FindAsync(docker.Host);

    /// <summary>Probes for a compose CLI now and then every few minutes, until <paramref name="stopping"/>.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        if (!settings.DetectCapabilities)
        {
            return;
        }

        while (!stopping.IsCancellationRequested)
        {
            var found = await ComposeCli.FindAsync(docker.Host);
            if (found?.FileName != _compose?.FileName)
            {
                LogCompose(logger, found is null ? "none" : $"{found.FileName} {string.Join(' ', found.Prefix)}".Trim());
            }

            _compose = found;
            _composeProbed = true;
            await Task.Delay(ComposeRecheck, time, stopping);
        }
    }

    /// <summary>Whether the engine answers (null) or why not, as far as a heartbeat can wait: a busy engine can take
    /// seconds to answer a ping (up to its 5 s timeout), and a heartbeat held that long misses its slot, and with short
    /// certificate lifetimes its renewal. The ping goes on in the background; a later heartbeat takes its answer.</summary>
    private async Task<string?> DockerFailureAsync(CancellationToken cancellationToken)
    {
        var ping = _ping ??= docker.PingAsync(cancellationToken);
        try
        {
            var failure = await ping.WaitAsync(PingWait, time, cancellationToken);
            _ping = null;
            return failure;
        }
        catch (TimeoutException)
        {
            return _dockerWasUp == true ? null : _dockerFailure ?? "no answer yet (the ping is still waiting)";
        }
    }

    public async Task<Detected> CurrentAsync(CancellationToken cancellationToken)
    {
        var capabilities = new SortedSet<string>(settings.Capabilities, StringComparer.Ordinal);
        var missing = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (!settings.DetectCapabilities)
        {
            return new Detected([.. capabilities], missing, false);
        }

        var failure = await DockerFailureAsync(cancellationToken);
        var dockerUp = failure is null;
        _dockerFailure = failure;
        if (dockerUp != _dockerWasUp)
        {
            // Said at start and on every change, naming where the engine was looked for: an agent that reports no
            // `docker` must say why, or a docker task is refused with nothing on the agent's side to explain it.
            if (dockerUp)
            {
                LogDockerFound(logger, docker.Host, settings.DockerHostSource);
            }
            else
            {
                LogDockerMissing(logger, docker.Host, settings.DockerHostSource, failure!);
            }

            _dockerWasUp = dockerUp;
        }

        _dockerSeen |= dockerUp;
        var engine = $"{docker.Host} (from {settings.DockerHostSource})";
        if (dockerUp)
        {
            capabilities.Add("docker");
            if (_compose is not null)
            {
                capabilities.Add("compose");
            }
            else if (_composeProbed)
            {
                missing["compose"] = "neither `docker compose` nor `docker-compose` runs for the agent's user";
            }
        }
        else
        {
            missing["docker"] = $"no Docker Engine answered at {engine}: {failure}";
            missing["compose"] = $"needs the Docker Engine, which did not answer at {engine}";
        }

        // A capability the operator gave is reported whatever was found, so it is not missing.
        foreach (var given in settings.Capabilities)
        {
            missing.Remove(given);
        }

        return new Detected([.. capabilities], missing.ToDictionary(m => m.Key, m => OneLine(m.Value)), _dockerSeen && !dockerUp);
    }

    /// <summary>A reason as the service takes it: one line, at most <see cref="MaxReasonLength"/> characters.</summary>
    public static string OneLine(string reason)
    {
        var line = string.Join(' ', reason.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return line.Length <= MaxReasonLength ? line : line[..(MaxReasonLength - 1)] + "…";
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Docker Engine at {Host} (from {Source}) answers: capability docker")]
    private static partial void LogDockerFound(ILogger logger, string host, string source);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No Docker Engine answers at {Host} (from {Source}): {Reason}; capability docker " +
        "is not reported and docker tasks go elsewhere; set --docker-host or DOCKER_HOST")]
    private static partial void LogDockerMissing(ILogger logger, string host, string source, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Compose CLI: {Cli}")]
    private static partial void LogCompose(ILogger logger, string cli);
}
