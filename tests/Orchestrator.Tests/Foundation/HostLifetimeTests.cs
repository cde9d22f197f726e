using System.Net;
using System.Runtime.CompilerServices;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Observability;

namespace Orchestrator.Tests.Foundation;

/// <summary>A stopped service leaves nothing running that keeps it in memory: every timer, limiter and listener it
/// started belongs to its services and ends with them. Several services in one process (replicas in tests, a benchmark's
/// baseline) depend on it; the test processes start hundreds. It runs alone (<see cref="ProcessWideListeners"/>): it
/// asks the garbage collector, which every test in the process shares.</summary>
[Collection(ProcessWideListeners.Name)]
public sealed class HostLifetimeTests
{
    [SkippableFact]
    public async Task A_stopped_service_is_collected_once_nothing_of_the_test_refers_to_it()
    {
        var services = await StartUseAndStopAsync();

        // A few rounds: an object with a finalizer keeps what it refers to until the round after its finalizer ran.
        for (var round = 0; round < 4 && services.IsAlive; round++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        // Still reachable: a timer, limiter or listener the service did not stop, or what the test factory keeps (TestApp
        // empties WebApplicationFactory's entry-point listener, which every context of the service captured).
        Assert.False(services.IsAlive, "The stopped service's services are still reachable.");
    }

    // Not inlined, so that no local of the caller's frame refers to the service.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> StartUseAndStopAsync()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        // Registration goes through its rate limit, a heartbeat through the agent's pipeline, /metrics through the exporter.
        var agent = await app.RegisterAgentAsync();
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy" })).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.OK, (await app.Client().GetAsync("/metrics")).StatusCode);
        return new WeakReference(app.Services);
    }
}
