namespace Orchestrator.Hosting;

/// <summary>Single instance (SQLite): events only need to reach this process.</summary>
public sealed class LocalClusterEvents(ILogger<LocalClusterEvents> logger) : ClusterEventsBase, IHostedService
{
    public override Task PublishAsync(string channel, string payload, CancellationToken cancellationToken)
    {
        Deliver(channel, payload, logger);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
