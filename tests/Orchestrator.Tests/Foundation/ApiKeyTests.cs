using System.Net;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Foundation;

public sealed class ApiKeyTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableTheory, BothProviders]
    public async Task An_admin_creates_a_key_that_is_shown_once_and_works(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var name = SharedApps.Unique("ci");
        var created = await (await app.AdminClient().PostJson("/api/v1/api-keys", new { name, role = "operator" })).ShouldBe(HttpStatusCode.Created);
        var key = created.GetProperty("key").GetString()!;
        Assert.Equal("operator", created.GetProperty("role").GetString());

        var list = await (await app.Client(key).GetAsync("/api/v1/audit")).ShouldBeProblem(HttpStatusCode.Forbidden);
        Assert.Contains("role", list.GetProperty("detail").GetString());

        var keys = await (await app.AdminClient().GetAsync("/api/v1/api-keys?limit=1000")).ShouldBe(HttpStatusCode.OK);
        Assert.Contains(keys.EnumerateArray(), k => k.GetProperty("name").GetString() == name);
        Assert.DoesNotContain(key, keys.GetRawText());
        Assert.All(keys.EnumerateArray(), k => Assert.False(k.TryGetProperty("key", out _)));
    }

    [SkippableTheory, BothProviders]
    public async Task A_viewer_cannot_create_keys(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var viewer = (await (await app.AdminClient().PostJson("/api/v1/api-keys", new { name = SharedApps.Unique("v"), role = "viewer" })).ShouldBe(HttpStatusCode.Created))
            .GetProperty("key").GetString();

        var response = await app.Client(viewer).PostJson("/api/v1/api-keys", new { name = SharedApps.Unique("x"), role = "admin" });

        await response.ShouldBeProblem(HttpStatusCode.Forbidden);
    }

    [SkippableTheory, BothProviders]
    public async Task No_key_or_an_unknown_key_is_unauthorized(DatabaseProvider provider)
    {
        var app = await apps.For(provider);

        await (await app.Client().GetAsync("/api/v1/api-keys")).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await app.Client("ork_not-a-key").GetAsync("/api/v1/api-keys")).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [SkippableTheory, BothProviders]
    public async Task A_revoked_key_stops_working_at_once(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var created = await (await app.AdminClient().PostJson("/api/v1/api-keys", new { name = SharedApps.Unique("temp"), role = "admin" })).ShouldBe(HttpStatusCode.Created);
        var client = app.Client(created.GetProperty("key").GetString());
        await (await client.GetAsync("/api/v1/api-keys")).ShouldBe(HttpStatusCode.OK);

        var deleted = await (await app.AdminClient().DeleteAsync($"/api/v1/api-keys/{created.GetProperty("id")}")).ShouldBe(HttpStatusCode.OK);

        Assert.True(deleted.GetProperty("deleted").GetBoolean());
        await (await client.GetAsync("/api/v1/api-keys")).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await app.AdminClient().DeleteAsync($"/api/v1/api-keys/{created.GetProperty("id")}")).ShouldBeProblem(HttpStatusCode.NotFound);
    }

    [SkippableTheory, BothProviders]
    public async Task The_last_admin_key_cannot_be_revoked(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        var keys = await (await app.AdminClient().GetAsync("/api/v1/api-keys")).ShouldBe(HttpStatusCode.OK);
        var bootstrap = keys.EnumerateArray().Single().GetProperty("id").GetString();

        await (await app.AdminClient().DeleteAsync($"/api/v1/api-keys/{bootstrap}")).ShouldBeProblem(HttpStatusCode.Conflict);
    }

    [SkippableTheory, BothProviders]
    public async Task Two_admins_revoking_each_other_at_once_leave_one_admin_that_works(DatabaseProvider provider)
    {
        // Every statement that asks whether another admin remains is held until both revocations have reached
        // it, so a check made apart from the revocation is raced on every round, not now and then.
        var gate = new StatementGate(sql => sql.Contains("'Admin'", StringComparison.Ordinal), participants: 2, TimeSpan.FromSeconds(2));
        await using var app = await TestApp.StartAsync(provider, services: s => s.AddSingleton<IInterceptor>(gate));
        var bootstrap = (await (await app.AdminClient().GetAsync("/api/v1/api-keys")).ShouldBe(HttpStatusCode.OK)).EnumerateArray().Single();
        var x = (Id: bootstrap.GetProperty("id").GetString()!, Key: TestApp.AdminKey);
        var y = await CreateAdminAsync(app, x.Key, "admin-1");

        for (var round = 2; round <= 4; round++)
        {
            gate.Arm();
            var answers = await Task.WhenAll(
                app.Client(x.Key).DeleteAsync($"/api/v1/api-keys/{y.Id}"),
                app.Client(y.Key).DeleteAsync($"/api/v1/api-keys/{x.Id}"));
            gate.Disarm();

            var statuses = answers.Select(a => a.StatusCode).ToArray();
            Assert.Equal(1, statuses.Count(s => s == HttpStatusCode.OK));
            Assert.All(statuses.Where(s => s != HttpStatusCode.OK), s => Assert.Contains(s, new[] { HttpStatusCode.Conflict, HttpStatusCode.Unauthorized }));
            var survivor = answers[0].StatusCode == HttpStatusCode.OK ? x : y;
            var keys = await (await app.Client(survivor.Key).GetAsync("/api/v1/api-keys")).ShouldBe(HttpStatusCode.OK);
            Assert.Equal(survivor.Id, keys.EnumerateArray().Single(k => k.GetProperty("role").GetString() == "admin").GetProperty("id").GetString());

            (x, y) = (survivor, await CreateAdminAsync(app, survivor.Key, $"admin-{round}"));
        }
    }

    private static async Task<(string Id, string Key)> CreateAdminAsync(TestApp app, string adminKey, string name)
    {
        var created = await (await app.Client(adminKey).PostJson("/api/v1/api-keys", new { name, role = "admin" })).ShouldBe(HttpStatusCode.Created);
        return (created.GetProperty("id").GetString()!, created.GetProperty("key").GetString()!);
    }

    [SkippableTheory]
    [InlineData("{}", "name")]
    [InlineData("{\"name\":\"x\"}", "role")]
    [InlineData("{\"name\":\"x\",\"role\":\"boss\"}", "$.role")]
    [InlineData("{\"name\":\"x\",\"role\":2}", "$.role")]
    [InlineData("{\"name\":5,\"role\":\"viewer\"}", "$.name")]
    [InlineData("{\"name\":", "JSON")]
    [InlineData("", "body")]
    public async Task Bad_input_is_a_400_problem_that_names_the_field(string body, string named)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        // Tests of one class run one at a time, so on this shared host nothing else adds keys meanwhile.
        var keysBefore = (await (await app.AdminClient().GetAsync("/api/v1/api-keys?limit=1000")).ShouldBe(HttpStatusCode.OK)).GetArrayLength();

        var problem = await (await app.AdminClient().PostRaw("/api/v1/api-keys", body)).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Contains(named, problem.GetRawText(), StringComparison.OrdinalIgnoreCase);
        var keys = await (await app.AdminClient().GetAsync("/api/v1/api-keys?limit=1000")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(keysBefore, keys.GetArrayLength());
    }

    [SkippableFact]
    public async Task A_key_id_that_is_not_a_uuid_is_a_400()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        var problem = await (await app.AdminClient().DeleteAsync("/api/v1/api-keys/not-a-uuid")).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Equal("'id' must be a UUID, such as 3fa85f64-5717-4562-b3fc-2c963f66afa6.", problem.GetProperty("detail").GetString());
    }

    [SkippableFact]
    public async Task A_role_that_does_not_exist_is_a_400_listing_the_roles_there_are()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        var problem = await (await app.AdminClient().PostJson("/api/v1/api-keys", new { name = SharedApps.Unique("boss"), role = "boss" }))
            .ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Equal("'$.role' must be one of: viewer, operator, admin.", problem.GetProperty("detail").GetString());
    }

    [SkippableFact]
    public async Task Keys_never_reach_the_logs()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var created = await (await app.AdminClient().PostJson("/api/v1/api-keys", new { name = SharedApps.Unique("ci"), role = "viewer" })).ShouldBe(HttpStatusCode.Created);
        // A path only this test asks for shows the lines of its own requests were captured.
        var path = $"/api/v1/tasks/{Guid.NewGuid()}";
        await app.Client(created.GetProperty("key").GetString()).GetAsync(path);
        await app.Client("ork_wrong-key-value").GetAsync(path);

        var logs = app.Logs.AllText;
        Assert.Contains(path, logs);
        Assert.DoesNotContain(created.GetProperty("key").GetString()!, logs);
        Assert.DoesNotContain(TestApp.AdminKey, logs);
        Assert.DoesNotContain("ork_wrong-key-value", logs);
    }
}
