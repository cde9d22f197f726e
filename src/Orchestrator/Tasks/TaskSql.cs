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

    /// <summary>Marks the agent's deliverable tasks delivered and returns them whole (<c>RETURNING *</c>): pending ones
    /// when <paramref name="includePending"/>, and delivered ones not started since <paramref name="redeliverCutoff"/>;
    /// highest priority first, then oldest, at most <paramref name="limit"/>.</summary>
    public FormattableString Claim(Guid agentId, bool includePending, DateTime now, DateTime redeliverCutoff, int limit) =>
        FormattableStringFactory.Create($$"""
            UPDATE "Tasks" SET "Status" = {0}, "AssignedAt" = COALESCE("AssignedAt", {1}),
                "LastDeliveredAt" = {1}, "DeliveryCount" = "DeliveryCount" + 1
            WHERE "Id" IN (
                SELECT "Id" FROM "Tasks"
                WHERE "AgentId" = {2}
                  AND (("Status" = {3} AND {4}) OR ("Status" = {0} AND "StartedAt" IS NULL AND "LastDeliveredAt" <= {5}))
                ORDER BY "Priority" DESC, "CreatedAt", "Id"
                LIMIT {6}{{RowLock}})
            RETURNING *
            """, Assigned, now, agentId, Pending, includePending, redeliverCutoff, limit);

    /// <summary>Ends delivered tasks whose timeout has passed; returns <c>Id, AgentId</c>.</summary>
    public FormattableString EndTimedOut(DateTime now, string reason) =>
        FormattableStringFactory.Create($$"""
            UPDATE "Tasks" SET "Status" = {0}, "CompletedAt" = {1}, "StatusReason" = {2}, "ProtectedCredentials" = NULL
            WHERE "Status" IN ({3}, {4}) AND {{TimeoutPassed("{1}")}}
            RETURNING "Id", "AgentId"
            """, TimedOut, now, reason, Assigned, Running);

    /// <summary>Ends cancelling tasks whose agent did not confirm by <paramref name="graceCutoff"/>.</summary>
    public static FormattableString EndUnconfirmedCancels(DateTime now, DateTime graceCutoff, string reason) => $"""
        UPDATE "Tasks" SET "Status" = {Cancelled}, "CompletedAt" = {now}, "StatusReason" = {reason}, "ProtectedCredentials" = NULL
        WHERE "Status" = {Cancelling} AND "CancelRequestedAt" <= {graceCutoff}
        RETURNING "Id", "AgentId"
        """;

    /// <summary>Ends tasks no agent collected since <paramref name="createdCutoff"/>.</summary>
    public static FormattableString EndUndelivered(DateTime now, DateTime createdCutoff, string reason) => $"""
        UPDATE "Tasks" SET "Status" = {TimedOut}, "CompletedAt" = {now}, "StatusReason" = {reason}, "ProtectedCredentials" = NULL
        WHERE "Status" = {Pending} AND "CreatedAt" <= {createdCutoff}
        RETURNING "Id", "AgentId"
        """;

    /// <summary>Cancels every unfinished task (<see cref="AgentTaskStatuses.Unfinished"/>) of an agent; returns the ids.</summary>
    public static FormattableString CancelUnfinished(Guid agentId, string reason, DateTime now)
    {
        object[] unfinished = [.. AgentTaskStatuses.Unfinished.Select(s => s.ToString())];
        var placeholders = string.Join(", ", unfinished.Select((_, i) => $"{{{i + 4}}}"));
        return FormattableStringFactory.Create($$"""
            UPDATE "Tasks" SET "Status" = {0}, "StatusReason" = {1}, "CompletedAt" = {2}, "ProtectedCredentials" = NULL
            WHERE "AgentId" = {3} AND "Status" IN ({{placeholders}})
            RETURNING "Id" AS "Value"
            """, [Cancelled, reason, now, agentId, .. unfinished]);
    }

    private sealed class PostgresTaskSql : TaskSql
    {
        // Rows another claim holds are skipped, not waited for; a row that changed meanwhile is re-checked against
        // the WHERE clause.
        protected override string RowLock => "\n        FOR UPDATE SKIP LOCKED";

        protected override string TimeoutPassed(string now) => $"""("AssignedAt" + make_interval(secs => "TimeoutSeconds") <= {now})""";
    }

    private sealed class SqliteTaskSql : TaskSql
    {
        // One writer at a time: no claim runs beside another.
        protected override string RowLock => "";

        protected override string TimeoutPassed(string now) => $"""(julianday("AssignedAt") + "TimeoutSeconds" / 86400.0 <= julianday({now}))""";
    }
}
