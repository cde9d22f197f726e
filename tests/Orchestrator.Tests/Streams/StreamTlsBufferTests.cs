using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Runtime.Versioning;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Hosting;
using Orchestrator.Http;
using Orchestrator.Testing;
using Orchestrator.Tests.Tasks;

namespace Orchestrator.Tests.Streams;

/// <summary>A task stream's connection lets OpenSSL free its record buffers while they are empty
/// (<c>SSL_MODE_RELEASE_BUFFERS</c>), and works as before. The mode is read from OpenSSL, on the service's own end of
/// real TLS connections.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class StreamTlsBufferTests
{
    [SkippableFact]
    public async Task A_stream_connection_releases_its_buffers_and_a_heartbeat_connection_keeps_them()
    {
        var connections = new ServerConnections();
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, services: connections.Register);
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy" })).ShouldBe(HttpStatusCode.OK);

        Assert.True(ReleasesBuffers(connections.Of($"/api/v1/agents/{agent.Id}/task-stream")));
        Assert.False(ReleasesBuffers(connections.Of($"/api/v1/agents/{agent.Id}/heartbeat")));

        // The stream works on with buffers that come and go: a record larger than one buffer to the agent, and back.
        var blob = new string('x', 60_000);
        var taskId = (await app.CreateTaskAsync(new { taskType = "agent.noop", agentId = agent.Id, payload = new { blob } }))
            .GetProperty("taskId").GetGuid();
        var message = await stream.ReceiveAsync("task_assigned");
        Assert.Equal(taskId, message.GetProperty("task").GetProperty("taskId").GetGuid());
        Assert.Equal(blob, message.GetProperty("task").GetProperty("payload").GetProperty("blob").GetString());
        var line = new string('y', 8_000);
        await stream.SendAsync(new { type = "task_log", taskId, level = "info", message = line });
        await Poll.Until(async () => (await app.GetTaskAsync(taskId)).GetProperty("logs").GetArrayLength() == 1, "the log line to be stored");
        Assert.Equal(line, (await app.GetTaskAsync(taskId)).GetProperty("logs")[0].GetProperty("message").GetString());
    }

    [SkippableFact]
    public async Task Operators_can_turn_the_release_off()
    {
        var connections = new ServerConnections();
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, services: connections.Register,
            settings: new Dictionary<string, string?> { ["Orchestrator:Streams:ReleaseTlsBuffers"] = "false" });
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);

        Assert.False(ReleasesBuffers(connections.Of($"/api/v1/agents/{agent.Id}/task-stream")));
    }

    private static bool ReleasesBuffers(SslStream tls)
    {
        Assert.True(TlsBufferRelease.TryReadMode(tls, out var mode, out var failure), failure);
        return TlsBufferRelease.ReleasesBuffers(mode);
    }

    /// <summary>The service's end of each request's TLS connection, by request path.</summary>
    private sealed class ServerConnections : IStartupFilter
    {
        private readonly ConcurrentDictionary<string, SslStream> _byPath = new();

        public void Register(IServiceCollection services) => services.AddSingleton<IStartupFilter>(this);

        public SslStream Of(string path) => _byPath.TryGetValue(path, out var tls) ? tls : throw new Xunit.Sdk.XunitException($"no request to {path}");

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, then) =>
            {
                if (context.Features.Get<ISslStreamFeature>()?.SslStream is { } tls)
                {
                    _byPath[context.Request.Path.Value!] = tls;
                }

                return then(context);
            });
            next(app);
        };
    }
}
