using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Tasks;
using Orchestrator.Testing;
using Orchestrator.Tests.Agents;

namespace Orchestrator.Tests.Reliability;

/// <summary>Issue 25 item 5: the lock order of the overdue-task sweep (<see cref="TaskSweeper.EndOverdueAsync"/>).
/// Completions and cancels change one task row each and wait for nothing while they hold it, so they cannot close a
/// cycle with the sweep; the sweep waits for them and goes on. Two sweeps can: each replica runs one, and an UPDATE
/// locks rows in the order its plan meets them, an order an agent's log lines or progress change (the row is rewritten
/// further on in the table and, leaving <c>assigned</c>, in the status index). Here the windows are held open in turn:
/// replica A (its clock 50 s ahead of B's) locks task 1 just after its first log lines were stored and then waits for
/// a completion of task 0 held before its commit; replica B, for which task 0 is not yet overdue, locks task 2 and
/// waits for task 1. When the completion commits, A reached task 2 before the fix: a deadlock (40P01) failed one pass.
/// The sweep now locks every overdue row in id order before changing any, so B waits behind A and finds nothing left.</summary>
public sealed class SweepLockOrderTests
{
    private static readonly TimeSpan Held = TimeSpan.FromMinutes(1);

    [SkippableFact]
    public async Task Two_replicas_sweeping_tasks_that_complete_and_report_meanwhile_do_not_deadlock()
    {
        // The service's own monitor keeps its clock here, a day before the tasks were handed out: it never sweeps them.
        var origin = ClockApps.Start;
        var completing = new StatementGate(sql => sql.Contains("INSERT INTO \"TaskLogs\"", StringComparison.Ordinal), int.MaxValue, Held);
        await using var app = await TestApp.StartAsync(DatabaseProvider.Postgres, new FakeTimeProvider(origin),
            services: s => s.AddSingleton<IInterceptor>(completing));
        var agent = await app.RegisterAgentAsync();
        var handedOut = origin.UtcDateTime.AddDays(1);

        // Ids (and so the fixed sweep's lock order) 1 < 0 < 2; stored in that order, so a table scan meets them so too.
        // Tasks 1 and 2 are overdue on both replicas, task 0 only on A. Task 1 is still assigned, the others running;
        // created 2 after 0 and 1 last, so the status index also lists 1 last once it runs.
        var one = Running(agent.Id, handedOut, 1, timeoutSeconds: 10, started: false, created: 3);
        var zero = Running(agent.Id, handedOut, 2, timeoutSeconds: 60, started: true, created: 1);
        var two = Running(agent.Id, handedOut, 3, timeoutSeconds: 10, started: true, created: 2);
        foreach (var task in new[] { one, zero, two })
        {
            await app.QueryAsync(async db =>
            {
                db.Tasks.Add(task);
                return await db.SaveChangesAsync();
            });
        }

        await using var observer = await OpenAsync(app);
        // An agent's first log lines for task 1 stored (the task now running), not yet committed.
        await using var logging = await OpenAsync(app);
        await using var logs = await logging.BeginTransactionAsync();
        await Execute(logging, $"""UPDATE "Tasks" SET "Status" = 'Running', "StartedAt" = "AssignedAt", "LogCount" = 1 WHERE "Id" = '{one.Id}'""");
        // The agent's completion of task 0, held between its update and its commit.
        completing.Arm();
        var completion = agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{zero.Id}/complete",
            new { success = true, logs = new[] { new { level = "info", message = "done" } } });
        await Poll.Until(() => completing.Arrived == 1, "the completion to update task 0");

        var sweepA = SweepAsync(app, handedOut.AddSeconds(100));
        var a = await BlockedByAsync(observer, logging.ProcessID, "replica A's sweep to wait for task 1's log lines");
        await logs.CommitAsync();
        await Poll.Until(async () => await BlockersAsync(observer, a) is { Length: > 0 } blockers && !blockers.Contains(logging.ProcessID),
            "replica A's sweep to wait for the completion of task 0");
        var sweepB = SweepAsync(app, handedOut.AddSeconds(50));
        await BlockedByAsync(observer, a, "replica B's sweep to wait for replica A's");
        completing.Disarm();

        await (await completion).ShouldBe(HttpStatusCode.OK);
        var ended = new List<Guid>();
        foreach (var (name, sweep) in new[] { ("A", sweepA), ("B", sweepB) })
        {
            var exception = await Record.ExceptionAsync(async () => ended.AddRange((await sweep).TimedOut.Select(t => t.Id)));
            Assert.True(exception is null, $"Replica {name}'s sweep failed: {exception}");
        }

        Assert.Equal(new[] { one.Id, two.Id }.Order(), ended.Order());
        var statuses = await app.QueryAsync(db => db.Tasks.AsNoTracking().ToDictionaryAsync(t => t.Id, t => t.Status));
        Assert.Equal(AgentTaskStatus.TimedOut, statuses[one.Id]);
        Assert.Equal(AgentTaskStatus.Succeeded, statuses[zero.Id]);
        Assert.Equal(AgentTaskStatus.TimedOut, statuses[two.Id]);
    }

    private static AgentTask Running(Guid agentId, DateTime handedOut, int order, int timeoutSeconds, bool started, int created) => new()
    {
        Id = Guid.CreateVersion7(new DateTimeOffset(handedOut.AddMinutes(-10).AddSeconds(order))),
        TaskType = "agent.noop",
        AgentId = agentId,
        Status = started ? AgentTaskStatus.Running : AgentTaskStatus.Assigned,
        TimeoutSeconds = timeoutSeconds,
        CreatedBy = "test",
        CreatedAt = handedOut.AddMinutes(-5).AddSeconds(created),
        AssignedAt = handedOut,
        LastDeliveredAt = handedOut,
        DeliveryCount = 1,
        StartedAt = started ? handedOut : null,
    };

    /// <summary>One pass of a replica whose clock reads <paramref name="now"/>: its own scope and connection.</summary>
    private static async Task<TaskSweeper.Overdue> SweepAsync(TestApp app, DateTime now)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var clock = new FakeTimeProvider(new DateTimeOffset(now, TimeSpan.Zero));
        var sweeper = new TaskSweeper(db, clock, scope.ServiceProvider.GetRequiredService<IOptions<TaskOptions>>(), new AuditLog(db, clock));
        return await sweeper.EndOverdueAsync(CancellationToken.None);
    }

    private static async Task<NpgsqlConnection> OpenAsync(TestApp app)
    {
        var connection = new NpgsqlConnection(app.Storage.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task Execute(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The backend that waits for a lock <paramref name="holder"/> holds, once there is one.</summary>
    private static async Task<int> BlockedByAsync(NpgsqlConnection observer, int holder, string what)
    {
        var waiting = 0;
        await Poll.Until(async () =>
        {
            await using var command = new NpgsqlCommand(
                "SELECT pid FROM pg_stat_activity WHERE @holder = ANY(pg_blocking_pids(pid)) LIMIT 1", observer);
            command.Parameters.AddWithValue("holder", holder);
            waiting = await command.ExecuteScalarAsync() is int pid ? pid : 0;
            return waiting != 0;
        }, what);
        return waiting;
    }

    private static async Task<int[]> BlockersAsync(NpgsqlConnection observer, int pid)
    {
        await using var command = new NpgsqlCommand("SELECT pg_blocking_pids(@pid)", observer);
        command.Parameters.AddWithValue("pid", pid);
        return (int[])(await command.ExecuteScalarAsync())!;
    }
}
