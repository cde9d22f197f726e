using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orchestrator.Agents;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Agents;

/// <summary>The heartbeat buffer's last flush at shutdown: when the stop's time has run out it is given up (with a
/// warning when heartbeats were waiting), and the shutdown does not fail (a fresh-clone CI run once failed a test host's stop with a
/// TaskCanceledException out of this flush).</summary>
public sealed class HeartbeatFlusherTests
{
    [SkippableFact]
    public async Task A_last_flush_whose_stop_time_ran_out_is_given_up_not_thrown()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy" })).ShouldBe(System.Net.HttpStatusCode.OK);
        var flusher = app.Services.GetServices<IHostedService>().OfType<HeartbeatFlusher>().Single();

        var stop = Record.ExceptionAsync(() => flusher.StopAsync(new CancellationToken(canceled: true)));

        Assert.Null(await stop);
    }
}
