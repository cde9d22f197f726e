using System.Text.Json.Serialization;

namespace Orchestrator.Contracts;

/// <summary>The spec's task stream messages (WebSocket text frames, one JSON object each, told apart by <c>type</c>).
/// Server to agent: <c>task_assigned</c>, <c>task_cancelled</c> and our <c>error</c>; agent to server:
/// <c>task_progress</c> and <c>task_log</c>.</summary>
public static class StreamMessageTypes
{
    public const string TaskAssigned = "task_assigned";
    public const string TaskCancelled = "task_cancelled";
    public const string Error = "error";
    public const string TaskProgress = "task_progress";
    public const string TaskLog = "task_log";
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

public sealed record TaskLogMessage(Guid TaskId, string Level, string Message)
{
    [JsonPropertyOrder(-1)]
    public string Type => StreamMessageTypes.TaskLog;
}
