using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace Orchestrator.Tasks;

/// <summary>The task statements LINQ cannot say: UPDATEs that return the rows they changed, so each row is decided by
/// exactly one caller however many replicas run them. The two providers differ in two fragments, defined once per
/// provider at the bottom. Statuses go in as parameters named from <see cref="AgentTaskStatus"/>, so the SQL cannot
/// drift from the code's idea of them.</summary>
internal abstract class TaskSql
{
    private static readonly TaskSql Postgres = new PostgresTaskSql();
    private static readonly TaskSql Sqlite = new SqliteTaskSql();

    private const string Pending = nameof(AgentTaskStatus.Pending);
    private const string Assigned = nameof(AgentTaskStatus.Assigned);
    private const string Running = nameof(AgentTaskStatus.Running);
    private const string Cancelling = nameof(AgentTaskStatus.Cancelling);
    private const string Cancelled = nameof(AgentTaskStatus.Cancelled);
    private const string TimedOut = nameof(AgentTaskStatus.TimedOut);

    public static TaskSql For(DatabaseFacade database) => database.IsNpgsql() ? Postgres : Sqlite;

    /// <summary>Appended to the claim's row selection: how concurrent claims keep out of each other's way.</summary>
    protected abstract string RowLock { get; }

    /// <summary>True when the task's timeout, counted from its first delivery, has passed at parameter
    /// <paramref name="now"/> (a placeholder such as <c>{0}</c>).</summary>
    protected abstract string TimeoutPassed(string now);

    /// <summary>The agent's id in <see cref="Claim"/>, for a condition on it passed as <c>pendingAllowed</c>.</summary>
    public const string ClaimAgentId = "{2}";

    /// <summary>Marks the agent's deliverable tasks delivered and returns them whole (<c>RETURNING *</c>): pending ones
    /// where the SQL condition <paramref name="pendingAllowed"/> holds (<c>TRUE</c>, <c>FALSE</c>, or one on the agent's
    /// id as <see cref="ClaimAgentId"/>), and delivered ones not started since <paramref name="redeliverCutoff"/>;
    /// highest priority first, then oldest, at most <paramref name="limit"/>.</summary>
    public FormattableString Claim(Guid agentId, string pendingAllowed, DateTime now, DateTime redeliverCutoff, int limit) =>
        FormattableStringFactory.Create($$"""
            UPDATE "Tasks" SET "Status" = {0}, "AssignedAt" = COALESCE("AssignedAt", {1}),
                "LastDeliveredAt" = {1}, "DeliveryCount" = "DeliveryCount" + 1
            WHERE "Id" IN (
                SELECT "Id" FROM "Tasks"
                WHERE "AgentId" = {{ClaimAgentId}}
                  AND (("Status" = {3} AND {{pendingAllowed}}) OR ("Status" = {0} AND "StartedAt" IS NULL AND "LastDeliveredAt" <= {4}))
                ORDER BY "Priority" DESC, "CreatedAt", "Id"
                LIMIT {5}{{RowLock}}){{CommitWithoutFlush}}
            RETURNING *
            """, Assigned, now, agentId, Pending, redeliverCutoff, limit);

    /// <summary>Appended to the claim's WHERE clause: its commit does not wait for the write-ahead log to reach the disk.
    /// A claim only marks tasks delivered, and delivery is at least once: a task whose mark a database crash took (the
    /// last fraction of a second before it) goes out again, and agents de-duplicate by id, as after any redelivery.
    /// Creations and ends still commit durably, and each durable commit makes the marks before it durable too. Under load
    /// a claim's flush waited behind the heartbeat flushes' log writes: it was most of the stream push p99
    /// (docs/benchmarks.md, "Many task streams").</summary>
    protected abstract string CommitWithoutFlush { get; }

    /// <summary>Appended to an id-ordered row selection: locks the rows in that order.</summary>
    protected abstract string InIdOrder { get; }

    /// <summary>Whether <see cref="LockOverdue"/> is needed: true where rows are locked one at a time (PostgreSQL).</summary>
    public abstract bool LocksRows { get; }

    /// <summary>Locks every overdue task in id order and returns the ids, before the sweep changes any: the three
    /// <c>End…</c> updates then touch only these rows (pass them as <c>locked</c>) and never wait. An UPDATE locks rows
    /// in the order its plan meets them, and that order moves: an agent's log lines or progress rewrite a row to a new
    /// place in the table and in the status index. Two replicas sweeping at once could so lock the same two tasks in
    /// opposite orders and deadlock (40P01), failing a pass on each.</summary>
    public FormattableString LockOverdue(DateTime now, DateTime graceCutoff, DateTime createdCutoff) =>
        FormattableStringFactory.Create($$"""
            SELECT "Id" AS "Value" FROM "Tasks"
            WHERE ("Status" IN ({0}, {1}) AND {{TimeoutPassed("{2}")}})
               OR ("Status" = {3} AND "CancelRequestedAt" <= {4})
               OR ("Status" = {5} AND "CreatedAt" <= {6})
            ORDER BY "Id"{{InIdOrder}}
            """, Assigned, Running, now, Cancelling, graceCutoff, Pending, createdCutoff);

    /// <summary>Ends delivered tasks whose timeout has passed; returns <c>Id, AgentId</c>.</summary>
    public FormattableString EndTimedOut(DateTime now, string reason, Guid[]? locked) =>
        Among(locked, $$"""
            UPDATE "Tasks" SET "Status" = {0}, "CompletedAt" = {1}, "StatusReason" = {2}, "ProtectedCredentials" = NULL
            WHERE "Status" IN ({3}, {4}) AND {{TimeoutPassed("{1}")}}{5}
            RETURNING "Id", "AgentId"
            """, TimedOut, now, reason, Assigned, Running);

    /// <summary>Ends cancelling tasks whose agent did not confirm by <paramref name="graceCutoff"/>.</summary>
    public static FormattableString EndUnconfirmedCancels(DateTime now, DateTime graceCutoff, string reason, Guid[]? locked) =>
        Among(locked, """
            UPDATE "Tasks" SET "Status" = {0}, "CompletedAt" = {1}, "StatusReason" = {2}, "ProtectedCredentials" = NULL
            WHERE "Status" = {3} AND "CancelRequestedAt" <= {4}{5}
            RETURNING "Id", "AgentId"
            """, Cancelled, now, reason, Cancelling, graceCutoff);

    /// <summary>Ends tasks no agent collected since <paramref name="createdCutoff"/>.</summary>
    public static FormattableString EndUndelivered(DateTime now, DateTime createdCutoff, string reason, Guid[]? locked) =>
        Among(locked, """
            UPDATE "Tasks" SET "Status" = {0}, "CompletedAt" = {1}, "StatusReason" = {2}, "ProtectedCredentials" = NULL
            WHERE "Status" = {3} AND "CreatedAt" <= {4}{5}
            RETURNING "Id", "AgentId"
            """, TimedOut, now, reason, Pending, createdCutoff);

    /// <summary>Fills placeholder <c>{5}</c> of a sweep's update: restricted to the rows <see cref="LockOverdue"/> locked,
    /// or (<paramref name="locked"/> null, SQLite) nothing.</summary>
    private static FormattableString Among(Guid[]? locked, string format, params object[] args) => locked is null
        ? FormattableStringFactory.Create(format.Replace("{5}", "", StringComparison.Ordinal), args)
        : FormattableStringFactory.Create(format.Replace("{5}", " AND \"Id\" = ANY({5})", StringComparison.Ordinal), [.. args, locked]);

    /// <summary>Cancels every unfinished task (<see cref="AgentTaskStatuses.Unfinished"/>) of an agent; returns the ids.
    /// The rows are locked in id order first, as the sweep locks them (<see cref="LockOverdue"/>): by its (agent,
    /// status) index alone the update would meet an agent's assigned tasks before its running ones, and a sweep ending
    /// both could hold one while waiting for the other.</summary>
    public FormattableString CancelUnfinished(Guid agentId, string reason, DateTime now)
    {
        object[] unfinished = [.. AgentTaskStatuses.Unfinished.Select(s => s.ToString())];
        var placeholders = string.Join(", ", unfinished.Select((_, i) => $"{{{i + 4}}}"));
        return FormattableStringFactory.Create($$"""
            UPDATE "Tasks" SET "Status" = {0}, "StatusReason" = {1}, "CompletedAt" = {2}, "ProtectedCredentials" = NULL
            WHERE "Id" IN (
                SELECT "Id" FROM "Tasks"
                WHERE "AgentId" = {3} AND "Status" IN ({{placeholders}})
                ORDER BY "Id"{{InIdOrder}})
            RETURNING "Id" AS "Value"
            """, [Cancelled, reason, now, agentId, .. unfinished]);
    }

    private sealed class PostgresTaskSql : TaskSql
    {
        // Rows another claim holds are skipped, not waited for; a row that changed meanwhile is re-checked against
        // the WHERE clause.
        protected override string RowLock => "\n        FOR UPDATE SKIP LOCKED";

        // This statement's own transaction only (is_local): the session's setting is untouched.
        protected override string CommitWithoutFlush => "\n        AND set_config('synchronous_commit', 'off', true) IS NOT NULL";

        public override bool LocksRows => true;

        protected override string InIdOrder => "\n        FOR NO KEY UPDATE";

        protected override string TimeoutPassed(string now) => $"""("AssignedAt" + make_interval(secs => "TimeoutSeconds") <= {now})""";
    }

    private sealed class SqliteTaskSql : TaskSql
    {
        // One writer at a time: no claim runs beside another.
        protected override string RowLock => "";

        // The connection's own durability applies (SQLite's synchronous pragma).
        protected override string CommitWithoutFlush => "";

        // One writer at a time: the sweep's transaction cannot meet another's locks.
        public override bool LocksRows => false;

        protected override string InIdOrder => "";

        protected override string TimeoutPassed(string now) => $"""(julianday("AssignedAt") + "TimeoutSeconds" / 86400.0 <= julianday({now}))""";
    }
}
