using Microsoft.Extensions.Options;
using Orchestrator.Hosting;

namespace Orchestrator.Tasks;

/// <summary>What bounds the delay of a lost task event (a replica that ended between a task's commit and its
/// announcement): every <see cref="TaskOptions.IdleRecheckInterval"/>, one statement finds every agent with something
/// waiting, and this replica forgets that it knew them idle, so their next heartbeat or stream tick reads their tasks.
/// Before it, every idle agent's own read expired on that interval: with 10,000 task streams on a replica, 330 reads
/// a second that found nothing (docs/benchmarks.md, "Many task streams"). A pass that fails forgets every agent, which
/// is what the replica knew before the sweep existed.</summary>
public sealed class IdleSweep(
    IServiceScopeFactory scopes, TimeProvider time, IOptions<TaskOptions> options, AgentWorkHints hints, ILogger<IdleSweep> logger)
    : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        options.Value.IdleRecheckInterval <= TimeSpan.Zero
            ? Task.CompletedTask
            : BackgroundLoop.RunAsync(options.Value.IdleRecheckInterval, time, passAtStart: false, RunOnceAsync, Failed, stoppingToken);

    /// <summary>One pass. Public so tests can run it without waiting for the timer.</summary>
    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        hints.Forget(await scope.ServiceProvider.GetRequiredService<TaskClaims>().AgentsWithWorkAsync(cancellationToken));
    }

    private void Failed(Exception exception)
    {
        hints.ForgetAll();
        logger.IdleSweepFailed(exception);
    }
}
