using System.Text.Json.Serialization;

namespace Orchestrator.Contracts;

/// <summary>The spec's task stream messages (WebSocket text frames, one JSON object each, told apart by <c>type</c>).
/// Server to agent: <c>task_assigned</c>, <c>task_cancelled</c>, and ours, <c>error</c> and <c>task_log_ack</c>; agent to
/// server: <c>task_progress</c> and <c>task_log</c>.</summary>
public static class StreamMessageTypes
{
    public const string TaskAssigned = "task_assigned";
    public const string TaskCancelled = "task_cancelled";
    public const string Error = "error";
    public const string TaskProgress = "task_progress";
    public const string TaskLog = "task_log";
    public const string TaskLogAck = "task_log_ack";
}

public sealed record TaskAssignedMessage(DeliveredTask Task)
{
    [JsonPropertyOrder(-1)]
    public string Type => StreamMessageTypes.TaskAssigned;
}

public sealed record TaskCancelledMessage(Guid TaskId)
{
    [JsonPropertyOrder(-1)]
    public string Type => StreamMessageTypes.TaskCancelled;
}

/// <summary>The server's answer to an agent message it could not take, naming the task when the message named one.</summary>
public sealed record StreamErrorMessage(string Message, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Guid? TaskId = null)
{
    [JsonPropertyOrder(-1)]
    public string Type => StreamMessageTypes.Error;
}

/// <summary><c>progress</c> is a whole percentage, 0 to 100.</summary>
public sealed record TaskProgressMessage(Guid TaskId, int Progress, string? Message)
{
    [JsonPropertyOrder(-1)]
    public string Type => StreamMessageTypes.TaskProgress;
}

/// <summary>One log line. <c>seq</c> (beyond the spec, optional) is the line's number within its task, from 0: the
/// server stores a numbered line once, however often it comes, and answers with a <see cref="TaskLogAckMessage"/>.</summary>
public sealed record TaskLogMessage(Guid TaskId, string Level, string Message)
{
    [JsonPropertyOrder(-1)]
    public string Type => StreamMessageTypes.TaskLog;

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Seq { get; init; }
}

/// <summary>The server's answer to a numbered <c>task_log</c> (beyond the spec): every line of the task up to
/// <c>seq</c> is stored (or dropped by the server's cap), so the agent need not send them again; -1 when none is.</summary>
public sealed record TaskLogAckMessage(Guid TaskId, long Seq)
{
    [JsonPropertyOrder(-1)]
    public string Type => StreamMessageTypes.TaskLogAck;
}
