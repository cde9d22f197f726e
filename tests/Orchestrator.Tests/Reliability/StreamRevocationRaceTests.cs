using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Certificates;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Streams;

namespace Orchestrator.Tests.Reliability;

/// <summary>Issue 25 item 2: a task stream opened while its agent is deleted. The connect authenticated (the revocation
/// list said live), the deletion's revocation was handled (no stream of the agent to close), and only then was the stream
/// registered: it stayed open for a deleted agent until the agent hung up. Here the window is held open: the connect is
/// stopped right after authentication until the deletion has been answered. The stream now closes with 1008 at once.</summary>
public sealed class StreamRevocationRaceTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [SkippableTheory, BothProviders]
    public async Task A_stream_registered_after_its_agents_revocation_was_handled_is_closed(DatabaseProvider provider)
    {
        var held = new AuthenticatedConnectHold();
        await using var app = await TestApp.StartAsync(provider, services: s => s.AddSingleton<IStartupFilter>(held));
        var agent = await app.RegisterAgentAsync();

        held.Arm(agent.Id);
        var connecting = StreamClient.ConnectAsync(app, agent);
        await held.Authenticated.Task.WaitAsync(Bound);
        await (await app.AdminClient().DeleteAsync($"/api/v1/agents/{agent.Id}")).ShouldBe(HttpStatusCode.OK);
        held.Release();

        await using var stream = await connecting.WaitAsync(Bound);
        var closed = await Record.ExceptionAsync(async () =>
            Assert.Equal(WebSocketCloseStatus.PolicyViolation, await stream.ClosedAsync(Bound)));
        Assert.True(closed is null, $"The deleted agent's stream did not close with 1008 within {Bound.TotalSeconds} s: {closed?.Message}");
        Assert.Equal("The agent's credentials were revoked.", stream.CloseStatusDescription);
    }

    /// <summary>Runs the agent's authentication first (the pipeline's own later calls reuse its result) and then holds
    /// the armed agent's task-stream connect until released: between authentication and the endpoint.</summary>
    private sealed class AuthenticatedConnectHold : IStartupFilter
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Guid _agentId;

        public TaskCompletionSource Authenticated { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Arm(Guid agentId) => _agentId = agentId;

        public void Release() => _released.TrySetResult();

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, following) =>
            {
                if (_agentId != Guid.Empty &&
                    context.Request.Path.Equals($"/api/v1/agents/{_agentId}/task-stream", StringComparison.OrdinalIgnoreCase))
                {
                    var result = await context.AuthenticateAsync(AgentAuthenticationHandler.SchemeName);
                    Assert.True(result.Succeeded, $"The held connect did not authenticate: {result.Failure?.Message}");
                    Authenticated.TrySetResult();
                    await _released.Task;
                }

                await following(context);
            });
            next(app);
        };
    }
}
