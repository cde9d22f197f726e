using System.Net.WebSockets;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Streams;

/// <summary>Issue 28's hardening: a task stream ends when the certificate and token it was opened with expire.</summary>
public sealed class StreamExpiryTests(ClockApps apps) : IClassFixture<ClockApps>
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
}
