using Microsoft.Extensions.Logging;
using Orchestrator.Agent.Executors;
using Orchestrator.Agent.Identity;
using Orchestrator.Agent.Listener;
using Orchestrator.Agent.Workers;
using Orchestrator.Client;

namespace Orchestrator.Agent;

/// <summary>One agent, from its state directory to its exit code: pins the CA, gets an identity, then runs the listener
/// and the workers until SIGTERM (drain, 0) or until it must stop (revoked, expired without a token, ...).</summary>
public sealed partial class AgentHost(AgentSettings settings, ILoggerFactory loggers, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ILogger _logger = loggers.CreateLogger("Orchestrator.Agent");
    private readonly TaskCompletionSource<Guid> _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes with the agent id once the agent has an identity and starts taking work.</summary>
    public Task<Guid> Started => _registered.Task;

    public async Task<int> RunAsync(CancellationToken shutdown)
    {
        try
        {
            return await RunCoreAsync(shutdown);
        }
        catch (AgentExitException ex)
        {
            LogCannotContinue(_logger, ex.Message);
            _registered.TrySetException(ex);
            return ex.ExitCode;
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            _registered.TrySetCanceled(shutdown);
            return ExitCodes.Ok;
        }
    }

    private async Task<int> RunCoreAsync(CancellationToken shutdown)
    {
        var state = new StateDirectory(settings.StateDir).Ensure();
        var credentials = new CredentialStore(state);
        var keys = new KeyStore(state, _time);
        var start = Enrolment.Check(settings, credentials, _time);
        var trust = await Enrolment.ResolveTrustAsync(settings, credentials, shutdown);
        using var client = new AgentClient(new OrchestratorClientOptions
        {
            Server = settings.Server,
            Trust = trust,
            Time = _time,
            UserAgent = $"orchestrator-agent/{settings.Version}",
        });
        using var docker = new DockerEngine(settings.DockerHost);
        var capabilities = new CapabilityDetector(settings, docker, _time, _logger);
        var workRoot = state.Subdirectory("work");
        SweepLeftovers(workRoot);
        var executors = new List<IExecutor>
        {
            new NoopExecutor(),
            new DockerPullExecutor(docker),
            new DockerRunExecutor(docker),
            new DockerStopExecutor(docker),
            new ComposeExecutor("compose.up", capabilities.ComposeForTaskAsync, state.Subdirectory("compose")),
            new ComposeExecutor("compose.down", capabilities.ComposeForTaskAsync, state.Subdirectory("compose")),
        };
        if (settings.AllowShell)
        {
            executors.Add(new ShellExecutor());
        }

        var enrolment = new Enrolment(settings, client, credentials, keys, _time, _logger, [.. executors.Select(e => e.TaskType)]);
        var identity = await enrolment.EnsureAsync(start, shutdown);
        keys.DeleteAllBut(identity.KeyFile);
        client.UseCredentials(enrolment.Load(identity));

        AgentListener? listener = null;
        var ledger = new TaskLedger();
        var outbox = new CompletionOutbox(state, client, _time, _logger);
        var shipper = new LogShipper(() => listener?.Stream, _time, _logger);
        var dispatcher = new TaskDispatcher(executors, outbox, shipper, ledger, settings.MaxTasks, settings.GracePeriod, workRoot, _time, _logger);
        var keeper = new CredentialKeeper(settings, client, enrolment, credentials, keys, identity, _time, _logger);
        listener = new AgentListener(settings, client, keeper, dispatcher, ledger, outbox, shipper, capabilities, new ResourceMonitor(state.Path),
            _time, _logger);
        LogRunning(_logger, identity.Name, identity.AgentId, settings.Server, settings.MaxTasks, string.Join(", ", dispatcher.TaskTypes.Order()));
        _registered.TrySetResult(identity.AgentId);
        return await listener.RunAsync(shutdown);
    }

    private static void SweepLeftovers(string workRoot)
    {
        foreach (var directory in Directory.EnumerateDirectories(workRoot))
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // Not ours to worry about now.
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "{Message}")]
    private static partial void LogCannotContinue(ILogger logger, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent {Name} ({AgentId}) connected to {Server}; runs up to {MaxTasks} tasks at once: {TaskTypes}")]
    private static partial void LogRunning(ILogger logger, string name, Guid agentId, Uri server, int maxTasks, string taskTypes);
}
