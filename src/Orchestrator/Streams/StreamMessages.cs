using System.Text.Json;
using Orchestrator.Http;
using Orchestrator.Tasks;

namespace Orchestrator.Streams;

/// <summary>Writes the task stream's messages (their records are the shared contracts, <see cref="StreamMessageTypes"/>) and
/// reads the agent's: <c>task_progress</c> and <c>task_log</c>, checked field by field so that a bad one is answered
/// with an <c>error</c> naming the problem. A numbered <c>task_log</c> is answered with a <c>task_log_ack</c>.</summary>
public static class StreamMessages
{
    public static byte[] Serialize<T>(T message) => JsonSerializer.SerializeToUtf8Bytes(message, Http.WireJson.Options);

    /// <summary>An agent message that passed validation.</summary>
    public abstract record Incoming(Guid TaskId);

    public sealed record Progress(Guid TaskId, int Value, string? Message) : Incoming(TaskId);

    /// <summary>A log line; <c>Seq</c> is its number within its task (beyond the spec), null from agents that do not number lines.</summary>
    public sealed record Log(Guid TaskId, string Level, string Message, long? Seq) : Incoming(TaskId);

    /// <summary>Reads one agent message, or says what is wrong with it (and the task it names, when it names one).</summary>
    public static (Incoming? Message, StreamErrorMessage? Problem) Parse(ReadOnlySpan<byte> utf8, int maxLogLineLength)
    {
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(utf8.ToArray());
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return (null, new StreamErrorMessage("The message is not valid JSON."));
        }

        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
        {
            return (null, new StreamErrorMessage("The message must be a JSON object with a string 'type'."));
        }

        Guid? taskId = root.TryGetProperty("taskId", out var id) && id.ValueKind == JsonValueKind.String && id.TryGetGuid(out var parsed)
            ? parsed
            : null;
        switch (type.GetString())
        {
            case StreamMessageTypes.TaskProgress:
                if (taskId is null)
                {
                    return (null, new StreamErrorMessage("'taskId' is required and must be a UUID."));
                }

                if (!root.TryGetProperty("progress", out var progress) || progress.ValueKind != JsonValueKind.Number ||
                    !progress.TryGetInt32(out var value) || value is < 0 or > 100)
                {
                    return (null, new StreamErrorMessage("'progress' is required and must be a whole number from 0 to 100.", taskId));
                }

                var text = OptionalString(root, "message");
                if (text.Invalid || text.Value is { Length: > 1024 })
                {
                    return (null, new StreamErrorMessage("'message' must be a string of at most 1024 characters.", taskId));
                }

                return (new Progress(taskId.Value, value, text.Value), null);

            case StreamMessageTypes.TaskLog:
                if (taskId is null)
                {
                    return (null, new StreamErrorMessage("'taskId' is required and must be a UUID."));
                }

                var level = OptionalString(root, "level");
                if (level.Invalid || level.Value is null || level.Value.Length is 0 or > TaskLog.MaxLevelLength ||
                    TextRules.FirstRefused(level.Value) is not null)
                {
                    return (null, new StreamErrorMessage(
                        $"'level' is required: a string of at most {TaskLog.MaxLevelLength} characters ({TextRules.Allowed}).", taskId));
                }

                var message = OptionalString(root, "message");
                if (message.Invalid || message.Value is null || message.Value.Length > maxLogLineLength)
                {
                    return (null, new StreamErrorMessage($"'message' is required: a string of at most {maxLogLineLength} characters.", taskId));
                }

                long? seq = null;
                if (root.TryGetProperty("seq", out var number) && number.ValueKind != JsonValueKind.Null)
                {
                    if (number.ValueKind != JsonValueKind.Number || !number.TryGetInt64(out var n) || n < 0)
                    {
                        return (null, new StreamErrorMessage("'seq' must be a whole number from 0 (the line's number within its task).", taskId));
                    }

                    seq = n;
                }

                return (new Log(taskId.Value, level.Value, message.Value, seq), null);

            default:
                var unknown = Truncate(type.GetString()!);
                return (null, new StreamErrorMessage($"Unknown message type '{unknown}'; expected task_progress or task_log.", taskId));
        }
    }

    private static (string? Value, bool Invalid) OptionalString(JsonElement root, string name) =>
        !root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null
            ? (null, false)
            : value.ValueKind == JsonValueKind.String ? (value.GetString(), false) : (null, true);

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
