using System.Net;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Serilog.Events;

namespace Orchestrator.Tests.Certificates;

public sealed class AgentAuthenticationLogTests
{
    [SkippableFact]
    public async Task Every_refused_agent_request_is_logged_with_its_reason_agent_and_address_but_never_the_token()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var a = await app.RegisterAgentAsync();
        var b = await app.RegisterAgentAsync();

        await (await app.Client(bearer: a.Token).GetAsync($"/api/v1/agents/{a.Id}/identity")).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await app.Client(certificate: b.Certificate, bearer: a.Token).GetAsync($"/api/v1/agents/{b.Id}/identity"))
            .ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await b.Client.GetAsync($"/api/v1/agents/{b.Id}/identity")).ShouldBe(HttpStatusCode.OK);

        var refusals = app.Logs.Events.Where(e => e.MessageTemplate.Text.StartsWith("Agent authentication rejected", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, refusals.Count);
        Assert.All(refusals, e => Assert.Equal(LogEventLevel.Warning, e.Level));
        Assert.All(refusals, e => Assert.Equal("127.0.0.1", Scalar(e, "RemoteAddress")));
        Assert.Contains(refusals, e => Scalar(e, "AgentId") is null && ((string)Scalar(e, "Reason")!).Contains("client certificate", StringComparison.Ordinal));
        Assert.Contains(refusals, e => Equals(Scalar(e, "AgentId"), b.Id) && ((string)Scalar(e, "Reason")!).Contains("bound", StringComparison.Ordinal));
        Assert.DoesNotContain(a.Token, app.Logs.AllText, StringComparison.Ordinal);
        Assert.DoesNotContain(b.Token, app.Logs.AllText, StringComparison.Ordinal);
    }

    private static object? Scalar(LogEvent e, string property) => ((ScalarValue)e.Properties[property]).Value;
}
