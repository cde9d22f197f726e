using System.Net;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Foundation;

public sealed class AuditTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableTheory, BothProviders]
    public async Task Changes_are_audited_newest_first_and_paged(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var admin = app.AdminClient();
        // Newest first: this test's three keys are the newest on the shared host, as its tests run one at a time.
        var run = SharedApps.Unique("key");
        for (var i = 0; i < 3; i++)
        {
            await (await admin.PostJson("/api/v1/api-keys", new { name = $"{run}-{i}", role = "viewer" })).ShouldBe(HttpStatusCode.Created);
        }

        var first = await admin.GetAsync("/api/v1/audit?action=apikey.created&limit=2");
        var page1 = await first.ShouldBe(HttpStatusCode.OK);
        Assert.Equal(2, page1.GetArrayLength());
        Assert.Equal($"{run}-2", page1[0].GetProperty("details").GetProperty("name").GetString());
        Assert.Equal("apikey:bootstrap-admin", page1[0].GetProperty("actor").GetString());

        var next = first.Headers.GetValues("Link").Single();
        Assert.EndsWith("rel=\"next\"", next);
        var url = next[1..next.IndexOf('>')];
        var page2 = await (await admin.GetAsync(url)).ShouldBe(HttpStatusCode.OK);
        Assert.Equal($"{run}-0", page2[0].GetProperty("details").GetProperty("name").GetString());
    }

    [SkippableFact]
    public async Task A_bad_cursor_or_limit_is_a_400()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        await (await app.AdminClient().GetAsync("/api/v1/audit?limit=0")).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await app.AdminClient().GetAsync("/api/v1/audit?after=%%%")).ShouldBeProblem(HttpStatusCode.BadRequest);
    }
}
