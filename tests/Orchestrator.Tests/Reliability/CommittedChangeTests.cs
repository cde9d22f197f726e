using System.Net;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Orchestrator.Agents;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Agents;

namespace Orchestrator.Tests.Reliability;

/// <summary>Defect 5 of issue 12: telling the other replicas about a change (a NOTIFY) ran after the commit and could
/// fail, and its failure was not guarded, so a committed status change, resume or deletion was answered 500 and the
/// caller retried something that had already happened. Events now go out through the event sender, which retries a
/// failed send on its own connection; publishing never fails the request.</summary>
public sealed class CommittedChangeTests
{
    [SkippableFact]
    public async Task Committed_changes_are_answered_as_done_even_when_telling_the_other_replicas_fails()
    {
        using var storage = await TestStorage.CreateAsync(DatabaseProvider.Postgres);
        // The service connects as a role that may use its tables but not pg_notify: every NOTIFY fails after the
        // change it announces was committed, as when the database goes away between the two.
        var role = $"no_notify_{Guid.NewGuid():N}"[..24];
        await using (var owner = new NpgsqlConnection(storage.ConnectionString))
        {
            await owner.OpenAsync();
            await using var setup = new NpgsqlCommand($"""
                CREATE ROLE {role} LOGIN;
                GRANT ALL ON SCHEMA public TO {role};
                GRANT ALL ON ALL TABLES IN SCHEMA public TO {role};
                GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role};
                REVOKE EXECUTE ON FUNCTION pg_notify(text, text) FROM PUBLIC;
                """, owner);
            await setup.ExecuteNonQueryAsync();
        }

        await using var app = TestApp.StartOn(storage, settings: new Dictionary<string, string?>
        {
            ["ConnectionStrings:Orchestrator"] = new NpgsqlConnectionStringBuilder(storage.ConnectionString) { Username = role }.ConnectionString,
        });
        var admin = app.AdminClient();
        var drained = await app.RegisterAgentAsync();
        var doomed = await app.RegisterAgentAsync();
        await (await admin.PostJson($"/api/v1/agents/{drained.Id}/drain", new { reason = "patching" })).ShouldBe(HttpStatusCode.OK);

        await (await admin.PostAsync($"/api/v1/agents/{drained.Id}/resume", null)).ShouldBe(HttpStatusCode.OK);
        await (await drained.Client.PostJson($"/api/v1/agents/{drained.Id}/heartbeat", new { status = "degraded" })).ShouldBe(HttpStatusCode.OK);
        await (await admin.DeleteAsync($"/api/v1/agents/{doomed.Id}")).ShouldBe(HttpStatusCode.OK);

        Assert.Equal(AgentStatus.Degraded, (await app.LoadAgentAsync(drained.Id)).Status);
        Assert.False(await app.QueryAsync(db => db.Agents.AnyAsync(a => a.Id == doomed.Id)));
        await (await doomed.Client.PostJson($"/api/v1/agents/{doomed.Id}/heartbeat", new { status = "healthy" }))
            .ShouldBeProblem(HttpStatusCode.Unauthorized);
        Assert.Contains(app.Logs.Events, e => e.RenderMessage().Contains("cluster events failed; retrying", StringComparison.Ordinal));
    }
}
