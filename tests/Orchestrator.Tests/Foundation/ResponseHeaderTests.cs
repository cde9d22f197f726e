using System.Net;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Foundation;

/// <summary>Issue 28's hardening: every answer says <c>X-Content-Type-Options: nosniff</c>, and answers that carry a key,
/// a token or credentials say <c>Cache-Control: no-store</c>, errors included.</summary>
public sealed class ResponseHeaderTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableFact]
    public async Task Answers_carrying_a_key_or_token_are_no_store_and_every_answer_is_nosniff()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var admin = app.AdminClient();
        var agent = await app.RegisterAgentAsync();
        var token = await app.CreateRegistrationTokenAsync();

        var secrets = new Dictionary<string, HttpResponseMessage>
        {
            ["api key"] = await admin.PostJson("/api/v1/api-keys", new { name = SharedApps.Unique("headers"), role = "viewer" }),
            ["registration token"] = await admin.PostJson("/api/v1/registration-tokens", new { }),
            ["registration"] = await app.Client().PostAsync("/api/v1/agents/register",
                TestAgents.JsonContent(new { name = SharedApps.Unique("headers"), version = "1" }, token)),
            ["renewal"] = await agent.Client.PostAsync($"/api/v1/agents/{agent.Id}/certificate/renew", null),
            ["heartbeat"] = await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy" }),
            ["agent's tasks"] = await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks"),
            ["refused api key"] = await admin.PostJson("/api/v1/api-keys", new { name = "", role = "viewer" }),
            ["agent route without a certificate"] = await app.Client(bearer: agent.Token).GetAsync($"/api/v1/agents/{agent.Id}/identity"),
        };
        var others = new Dictionary<string, HttpResponseMessage>
        {
            ["trust bundle"] = await app.Client().GetAsync("/api/v1/ca"),
            ["agent list"] = await admin.GetAsync("/api/v1/agents"),
            ["unknown route"] = await app.Client().GetAsync("/api/v1/no-such-thing"),
            ["liveness"] = await app.Client().GetAsync("/health/live"),
            ["swagger ui"] = await app.Client().GetAsync("/swagger/index.html"),
        };

        Assert.Equal(HttpStatusCode.Created, secrets["registration"].StatusCode);
        Assert.Equal(HttpStatusCode.OK, secrets["renewal"].StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, secrets["refused api key"].StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, others["unknown route"].StatusCode);
        foreach (var (what, response) in secrets)
        {
            Assert.True(response.Headers.CacheControl?.NoStore == true, $"{what} ({(int)response.StatusCode}): Cache-Control is '{response.Headers.CacheControl}'.");
        }

        foreach (var (what, response) in secrets.Concat(others))
        {
            Assert.True(response.Headers.TryGetValues("X-Content-Type-Options", out var values) && values.Single() == "nosniff",
                $"{what} ({(int)response.StatusCode}) has no X-Content-Type-Options: nosniff.");
        }

        Assert.False(others["trust bundle"].Headers.CacheControl?.NoStore == true, "The public trust bundle need not be no-store.");
    }

    [SkippableFact]
    public async Task Answers_over_the_services_own_tls_carry_hsts()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        var answers = new[]
        {
            await app.Client().GetAsync("/api/v1/ca"),
            await app.Client().GetAsync("/api/v1/no-such-thing"),
            await app.AdminClient().GetAsync("/api/v1/agents"),
        };

        Assert.All(answers, a => Assert.Equal(TimeSpan.FromDays(365).TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Assert.Single(a.Headers.GetValues("Strict-Transport-Security")).Replace("max-age=", "", StringComparison.Ordinal)));
    }
}
