using System.Collections.Concurrent;
using System.Net;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Hosting;
using Orchestrator.Tasks;
using Orchestrator.Testing;
using Orchestrator.Tests.Agents;

namespace Orchestrator.Tests.Reliability;

/// <summary>Defect 3 of issue 12: a task created while its agent was being deleted was checked against the agent with a
/// plain read and inserted after the deletion had cancelled the agent's tasks, so it stayed pending for a day (4 of 4
/// races, 5 to 32 tasks each). A task for an agent being deleted is now either refused (404) or cancelled with the
/// agent's others.</summary>
public sealed class TaskCreateDeleteRaceTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableTheory, BothProviders]
    public async Task Tasks_created_while_their_agent_is_deleted_are_refused_or_cancelled_never_left_pending(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        var admin = app.AdminClient();
        var answers = new ConcurrentBag<HttpStatusCode>();
        var deleted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Eight operators keep creating tasks for the agent until a little after its deletion has been answered.
        var creators = Enumerable.Range(0, 8).Select(async _ =>
        {
            var after = 0;
            while (after < 3)
            {
                var response = await admin.PostJson("/api/v1/tasks", new { taskType = "agent.noop", agentId = agent.Id });
                answers.Add(response.StatusCode);
                if (deleted.Task.IsCompleted)
                {
                    after++;
                }
            }
        }).ToList();

        try
        {
            // Generous: on a loaded two-core machine eight writers to one SQLite file take turns slowly.
            await Poll.Until(() => answers.Count(a => a == HttpStatusCode.Created) >= 16, "tasks to be created", TimeSpan.FromSeconds(60));
            await (await admin.DeleteAsync($"/api/v1/agents/{agent.Id}")).ShouldBe(HttpStatusCode.OK);
        }
        finally
        {
            // The creators stop in any case, so a failure here does not leave them loading the shared host.
            deleted.TrySetResult();
            await Task.WhenAll(creators);
        }

        Assert.All(answers, a => Assert.True(a is HttpStatusCode.Created or HttpStatusCode.NotFound, $"A create was answered {(int)a}."));
        Assert.Contains(HttpStatusCode.NotFound, answers);
        var left = await app.QueryAsync(db => db.Tasks.CountAsync(t => t.AgentId == agent.Id && AgentTaskStatuses.Unfinished.Contains(t.Status)));
        Assert.Equal(0, left);
    }
}
