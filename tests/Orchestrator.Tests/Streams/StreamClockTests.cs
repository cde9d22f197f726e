using System.Net.WebSockets;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orchestrator.Hosting;
using Orchestrator.Tasks;
using Orchestrator.Testing;
using Orchestrator.Tests.Agents;
using Orchestrator.Tests.Tasks;

namespace Orchestrator.Tests.Streams;

/// <summary>The task stream on the service's (fake) clock. Issue 28's hardening: a stream ends when the certificate and
/// token it was opened with expire. And the stream's own periodic check: what a push can lose (a send that never
/// arrived), it finds again once the task is due for redelivery, on the stream that is still open.</summary>
public sealed class StreamClockTests(ClockApps apps) : IClassFixture<ClockApps>
{
    [SkippableFact]
    public async Task A_stream_closes_with_1008_when_the_credentials_it_was_opened_with_expire()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var time = app.Time!;
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);
        var expiresAt = agent.Certificate.NotAfter.ToUniversalTime();

        // A minute before: still open (an invalid message is still answered).
        time.Advance(expiresAt - time.GetUtcNow().UtcDateTime - TimeSpan.FromMinutes(1));
        await stream.SendTextAsync("{}");
        await stream.ReceiveAsync("error");

        time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await stream.ClosedAsync());
        Assert.Contains("expired", stream.CloseStatusDescription, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task An_unstarted_task_goes_out_again_on_the_open_stream_once_it_is_due_for_redelivery()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var time = app.Time!;
        var redeliverAfter = app.Services.GetRequiredService<IOptions<TaskOptions>>().Value.RedeliverAfter;
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);
        var taskId = await app.CreateTaskForAsync(agent.Id);
        await stream.ReceiveAsync("task_assigned");

        // Past the redelivery window, within the agent's liveness window (one minute against ninety seconds).
        time.Advance(redeliverAfter + TimeSpan.FromSeconds(1));

        var again = await stream.ReceiveAsync("task_assigned");
        Assert.Equal(taskId, again.GetProperty("task").GetProperty("taskId").GetGuid());
        Assert.Equal(2, (await app.QueryAsync(db => db.Tasks.SingleAsync(t => t.Id == taskId))).DeliveryCount);
    }
}
