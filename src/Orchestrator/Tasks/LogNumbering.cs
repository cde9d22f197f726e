namespace Orchestrator.Tasks;

/// <summary>Numbered log lines (beyond the spec: <c>task_log</c>'s <c>seq</c>, the completion's <c>logsSeq</c>): an agent
/// numbers its task's lines from 0 and sends a line until the server acknowledges it, on the stream and again with the
/// completion, so a line can come twice. The task keeps the highest number taken (<see cref="AgentTask.LastLogSeq"/>);
/// a line at or below it is a repeat. Lines without numbers (agents that do not number them) are all new.</summary>
public static class LogNumbering
{
    /// <param name="Lines">The lines to store (before the cap).</param>
    /// <param name="Last">The task's highest number afterwards.</param>
    public sealed record Fresh(IReadOnlyList<TaskLogEntry> Lines, long? Last);

    /// <summary>The lines of a batch not taken yet. A stream batch that starts beyond the next number (an earlier line was
    /// lost on the way) is not taken, so that the acknowledgement only ever covers lines without a hole: the agent sends
    /// the missing ones again. A completion's lines are the last the task gets and are taken whatever is missing.</summary>
    public static Fresh Take(long? last, long? firstSeq, IReadOnlyList<TaskLogEntry> lines, bool final)
    {
        if (firstSeq is not { } first || lines.Count == 0)
        {
            return new Fresh(lines, last);
        }

        var next = (last ?? -1) + 1;
        if (first > next && !final)
        {
            return new Fresh([], last);
        }

        var repeats = (int)Math.Clamp(next - first, 0, lines.Count);
        return new Fresh([.. lines.Skip(repeats)], Math.Max(last ?? -1, first + lines.Count - 1));
    }
}
