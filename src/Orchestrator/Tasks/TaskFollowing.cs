using System.ComponentModel;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Orchestrator.Http;

namespace Orchestrator.Tasks;

/// <summary><c>GET /api/v1/tasks/{taskId}?wait=SECONDS</c> and <c>GET /api/v1/tasks/{taskId}/events</c>: waiting for a
/// task and following it without polling. Both wake on <see cref="TaskChanges"/> (from any replica) and read the
/// database only then; neither holds a connection while it waits.</summary>
public static class TaskFollowing
{
    public const int MaxWaitSeconds = 60;

    private const int LogBatch = 500;

    /// <summary>Whole seconds from 0 to 60, or a validation problem naming <c>wait</c>.</summary>
    public static bool TryReadWait(string? text, Validation errors, out TimeSpan wait)
    {
        wait = TimeSpan.Zero;
        if (text is null)
        {
            return true;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > MaxWaitSeconds)
        {
            errors.Add("wait", $"'wait' must be whole seconds from 0 to {MaxWaitSeconds}.");
            return false;
        }

        wait = TimeSpan.FromSeconds(seconds);
        return true;
    }

    /// <summary>Returns once the task has ended, the wait has run out, the client has gone, or the service is stopping
    /// (the client then asks again, of a replica that is up). The caller reads the task afterwards.</summary>
    public static async Task WaitForEndAsync(Guid taskId, TimeSpan wait, TaskQueries queries, TaskChanges changes, TimeProvider time,
        IHostApplicationLifetime lifetime, CancellationToken cancellationToken)
    {
        if (wait <= TimeSpan.Zero)
        {
            return;
        }

        var deadline = time.GetUtcNow() + wait;
        var first = await queries.SnapshotAsync(taskId, cancellationToken);
        if (first is null || first.Status.IsEnded())
        {
            return;
        }

        using var watch = changes.Watch(taskId, first.AgentId, endOnly: true);
        await watch.UntilEndedAsync(deadline, async token => await queries.SnapshotAsync(taskId, token) is not { } task || task.Status.IsEnded(),
            time, lifetime, cancellationToken);
    }

    /// <summary>The event stream: status changes, progress and stored log lines, from the position <c>Last-Event-ID</c>
    /// names (or the start), until the task has ended.</summary>
    internal static async Task<Results<EmptyHttpResult, NoContent, ValidationProblem, ProblemHttpResult>> StreamAsync(
        Guid taskId,
        [FromHeader(Name = "Last-Event-ID")]
        [Description("The id of the last event received, to resume after it (an EventSource sends it on reconnecting).")]
        string? lastEventId, HttpContext context, TaskQueries queries, ITaskAgents agents,
        TaskChanges changes, TimeProvider time, IHostApplicationLifetime lifetime, CancellationToken cancellationToken)
    {
        var cursor = EventCursor.Start;
        if (!string.IsNullOrEmpty(lastEventId) && !EventCursor.TryParse(lastEventId, out cursor))
        {
            return new Validation().Add("Last-Event-ID", "'Last-Event-ID' must be the id of an event this stream sent.").ToProblem();
        }

        var first = await queries.SnapshotAsync(taskId, cancellationToken);
        if (first is null)
        {
            return Problems.NotFound($"No task has id {taskId}.");
        }

        if (cursor.Stage == EventCursor.Final)
        {
            // The client has seen the end; 204 tells an EventSource to stop reconnecting.
            return TypedResults.NoContent();
        }

        var response = context.Response;
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        using var watch = changes.Watch(taskId, first.AgentId, endOnly: false);
        string? waitingSaid = null;
        try
        {
            await ServerSentEvents.StartAsync(context, stopping.Token);
            while (true)
            {
                var (snapshot, lines) = await queries.ChangesAsync(taskId, cursor.LogId, LogBatch, stopping.Token);
                if (snapshot is null)
                {
                    // Deleted by retention while followed: nothing more will come.
                    break;
                }

                var more = lines.Count == LogBatch;
                cursor = await WriteChangesAsync(response, snapshot, lines, more, cursor, stopping.Token);
                await response.Body.FlushAsync(stopping.Token);
                if (cursor.Stage == EventCursor.Final)
                {
                    break;
                }

                if (more)
                {
                    // Stored lines are still to come: read on before waiting for a change.
                    continue;
                }

                // A task that cannot move says why, or a follower watches "pending" for hours. An agent's status change
                // does not wake this loop, so it is looked at on every pass: at once, then at least every keep-alive.
                if (snapshot.StartedAt is null && snapshot.Status is AgentTaskStatus.Pending or AgentTaskStatus.Assigned &&
                    await agents.WhyWaitingAsync(snapshot.AgentId, stopping.Token) is { } waiting && waiting.Reason != waitingSaid)
                {
                    waitingSaid = waiting.Reason;
                    await WriteEventAsync(response, cursor, TaskEventTypes.Waiting, JsonSerializer.Serialize(waiting, WireJson.Options),
                        stopping.Token);
                    await response.Body.FlushAsync(stopping.Token);
                }

                if (!await watch.WaitAsync(ServerSentEvents.KeepAliveInterval, time, stopping.Token))
                {
                    await ServerSentEvents.KeepAliveAsync(response, stopping.Token);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The client left, or the service is stopping: the client resumes with Last-Event-ID, here or elsewhere.
        }

        return TypedResults.Empty;
    }

    /// <summary>Writes what the client has not seen of this snapshot and the lines read with it, in the order it happened
    /// where that is known: states before the end, then stored lines, then (once every line has been read:
    /// <paramref name="more"/> is false; a task's last lines are committed with its end) progress and the end.</summary>
    private static async Task<EventCursor> WriteChangesAsync(HttpResponse response, TaskQueries.Snapshot snapshot, List<TaskLog> lines,
        bool more, EventCursor cursor, CancellationToken cancellationToken)
    {
        var stages = Stages(snapshot).ToList();
        foreach (var (stage, status, at) in stages.Where(s => s.Stage > cursor.Stage && s.Stage < EventCursor.Final))
        {
            cursor = cursor with { Stage = stage };
            var reason = stage == stages[^1].Stage ? snapshot.StatusReason : null;
            await WriteEventAsync(response, cursor, "status", JsonSerializer.Serialize(new TaskStatusEvent(status, at, reason), WireJson.Options),
                cancellationToken);
        }

        foreach (var line in lines)
        {
            cursor = cursor with { LogId = line.Id };
            await WriteEventAsync(response, cursor, "log",
                JsonSerializer.Serialize(new TaskLogResponse(line.Timestamp, line.Level, line.Message), WireJson.Options), cancellationToken);
        }

        if (more)
        {
            return cursor;
        }

        if (snapshot.Progress is { } progress && EventCursor.Fingerprint(progress, snapshot.ProgressMessage) is var fingerprint &&
            fingerprint != cursor.Progress)
        {
            cursor = cursor with { Progress = fingerprint };
            await WriteEventAsync(response, cursor, "progress",
                JsonSerializer.Serialize(new TaskProgressEvent(progress, snapshot.ProgressMessage), WireJson.Options), cancellationToken);
        }

        if (snapshot.Status.IsEnded())
        {
            cursor = cursor with { Stage = EventCursor.Final };
            await WriteEventAsync(response, cursor, "status",
                JsonSerializer.Serialize(new TaskStatusEvent(snapshot.Status, snapshot.CompletedAt ?? snapshot.CreatedAt, snapshot.StatusReason),
                    WireJson.Options), cancellationToken);
        }

        return cursor;
    }

    /// <summary>The states a task has been through, from its row's timestamps: each is reached at most once, in this
    /// order, so a stage number says which have been sent.</summary>
    private static IEnumerable<(int Stage, AgentTaskStatus Status, DateTime At)> Stages(TaskQueries.Snapshot task)
    {
        yield return (0, AgentTaskStatus.Pending, task.CreatedAt);
        if (task.AssignedAt is { } assigned)
        {
            yield return (1, AgentTaskStatus.Assigned, assigned);
        }

        if (task.StartedAt is { } started && task.Status != AgentTaskStatus.Pending)
        {
            yield return (2, AgentTaskStatus.Running, started);
        }

        // A cancel that found the task delivered made it cancelling; one that found it pending ended it at once.
        if (task.CancelRequestedAt is { } cancelRequested && task.AssignedAt is not null &&
            task.Status is AgentTaskStatus.Cancelling or AgentTaskStatus.Cancelled)
        {
            yield return (3, AgentTaskStatus.Cancelling, cancelRequested);
        }

        if (task.Status.IsEnded())
        {
            yield return (EventCursor.Final, task.Status, task.CompletedAt ?? task.CreatedAt);
        }
    }

    private static Task WriteEventAsync(HttpResponse response, EventCursor cursor, string type, string json, CancellationToken cancellationToken) =>
        ServerSentEvents.WriteEventAsync(response, cursor.ToString(), type, json, cancellationToken);

    /// <summary>Where a client is in a task's events: the last state sent (its stage, -1 for none), the id of the last
    /// stored log line sent, and a fingerprint of the last progress sent. Made from stored rows only, it means the
    /// same on every replica and after restarts.</summary>
    internal readonly record struct EventCursor(int Stage, long LogId, string? Progress)
    {
        public const int Final = 4;

        public static EventCursor Start { get; } = new(-1, 0, null);

        public override string ToString() => $"{Stage}.{LogId}.{Progress ?? "-"}";

        public static bool TryParse(string text, out EventCursor cursor)
        {
            cursor = Start;
            var parts = text.Split('.');
            if (parts.Length != 3 ||
                !int.TryParse(parts[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var stage) || stage is < -1 or > Final ||
                !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var logId) ||
                !(parts[2] == "-" || (parts[2].Length == 8 && parts[2].All(char.IsAsciiHexDigitLower))))
            {
                return false;
            }

            cursor = new EventCursor(stage, logId, parts[2] == "-" ? null : parts[2]);
            return true;
        }

        public static string Fingerprint(int progress, string? message) =>
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{progress}\n{message}")))[..8];
    }
}
