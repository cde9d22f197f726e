using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Certificates;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Certificates;

/// <summary>A token that passed the full check is remembered by its text (a signature verification saved per request),
/// yet every rule still holds on every request: expiry and not-before on the service's clock, revocation at once, and
/// nothing remembered that was refused.</summary>
public sealed class AgentTokenCacheTests(ClockApps apps) : IClassFixture<ClockApps>
{
    [SkippableFact]
    public async Task A_token_accepted_before_is_refused_once_it_expires()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var tokens = app.Services.GetRequiredService<AgentTokens>();
        var now = app.Time!.GetUtcNow().UtcDateTime;
        var agentId = Guid.NewGuid();
        var token = tokens.Issue(agentId, "thumbprint", now, now.AddMinutes(1));
        // Authentication looks the token up where it stands in the request's header.
        var header = $"Bearer  {token} ";
        var inHeader = header.AsMemory(8, token.Length);

        Assert.Null(tokens.FindAccepted(inHeader.Span));
        Assert.NotNull((await tokens.ValidateAsync(token, CancellationToken.None)).Token);
        Assert.Equal(agentId, tokens.FindAccepted(inHeader.Span)?.AgentId);
        Assert.NotNull((await tokens.ValidateAsync(token, CancellationToken.None)).Token);
        app.Time.Advance(TimeSpan.FromMinutes(1));

        Assert.Null(tokens.FindAccepted(inHeader.Span));
        var (expired, error) = await tokens.ValidateAsync(token, CancellationToken.None);
        Assert.Null(expired);
        Assert.Contains("expired", error, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_token_not_valid_yet_is_refused_until_its_time_and_accepted_after()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var tokens = app.Services.GetRequiredService<AgentTokens>();
        var now = app.Time!.GetUtcNow().UtcDateTime;
        var token = tokens.Issue(Guid.NewGuid(), "thumbprint", now.AddMinutes(1), now.AddMinutes(5));

        Assert.Null((await tokens.ValidateAsync(token, CancellationToken.None)).Token);
        Assert.Null((await tokens.ValidateAsync(token, CancellationToken.None)).Token);
        app.Time.Advance(TimeSpan.FromMinutes(1));

        Assert.NotNull((await tokens.ValidateAsync(token, CancellationToken.None)).Token);
    }

    [SkippableFact]
    public async Task Refused_tokens_are_not_remembered()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var tokens = app.Services.GetRequiredService<AgentTokens>();
        var agent = await app.RegisterAgentAsync();
        var parts = agent.Token.Split('.');
        var before = tokens.AcceptedCount;

        for (var i = 0; i < 20; i++)
        {
            var forged = $"{parts[0]}.{parts[1]}.{parts[2][..^4]}{i:0000}";
            await (await app.Client(certificate: agent.Certificate, bearer: forged).GetAsync($"/api/v1/agents/{agent.Id}/identity"))
                .ShouldBeProblem(HttpStatusCode.Unauthorized);
        }

        Assert.Equal(before, tokens.AcceptedCount);
    }

    [SkippableFact]
    public async Task A_deleted_agent_is_refused_at_once_though_its_token_was_accepted_before()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);

        await (await app.AdminClient().DeleteAsync($"/api/v1/agents/{agent.Id}")).ShouldBe(HttpStatusCode.OK);

        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }
}
