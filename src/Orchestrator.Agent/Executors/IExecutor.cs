using System.Text.Json;
using Orchestrator.Agent.Workers;

namespace Orchestrator.Agent.Executors;

/// <summary>Runs one kind of task. Return the outcome; throw <see cref="TaskFailedException"/> for a failure worth a
/// clear message. Stop gracefully when <see cref="TaskContext.Stopping"/> fires and at once when
/// <see cref="TaskContext.Killing"/> fires (the grace period is over).</summary>
public interface IExecutor
{
    string TaskType { get; }

    Task<ExecutionResult> ExecuteAsync(TaskContext context);
}

public sealed record ExecutionResult(bool Success, object? Result)
{
    public static ExecutionResult Succeeded(object? result = null) => new(true, result);

    public static ExecutionResult Failed(string error, object? details = null) => new(false, details ?? new { error });
}

/// <summary>A failure the executor can explain: its message goes to the task's result and log.</summary>
public sealed class TaskFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>What an executor gets: the task, where its output goes, and the two stop signals.</summary>
public sealed class TaskContext
{
    public required Guid TaskId { get; init; }
    public required string TaskType { get; init; }
    public required JsonElement Payload { get; init; }
    public required IReadOnlyDictionary<string, string> Credentials { get; init; }
    public required TaskLog Log { get; init; }
    public required Action<int, string?> Progress { get; init; }

    /// <summary>Stop gracefully now (cancelled, timed out, or the agent is shutting down).</summary>
    public required CancellationToken Stopping { get; init; }

    /// <summary>The grace period after <see cref="Stopping"/> is over: stop at once.</summary>
    public required CancellationToken Killing { get; init; }

    public required TimeSpan GracePeriod { get; init; }

    /// <summary>Where the agent keeps per-task files (compose projects).</summary>
    public required string WorkDirectory { get; init; }

    public string? String(string name) =>
        Payload.ValueKind == JsonValueKind.Object && Payload.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? value.ValueKind == JsonValueKind.String ? value.GetString() : throw new TaskFailedException($"Payload field '{name}' must be a string.")
            : null;

    public string RequiredString(string name) =>
        String(name) is { Length: > 0 } value ? value : throw new TaskFailedException($"Payload field '{name}' is required.");

    public bool? Bool(string name) =>
        Payload.ValueKind == JsonValueKind.Object && Payload.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : throw new TaskFailedException($"Payload field '{name}' must be true or false.")
            : null;

    public int? Int(string name) =>
        Payload.ValueKind == JsonValueKind.Object && Payload.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number) ? number : throw new TaskFailedException($"Payload field '{name}' must be a whole number.")
            : null;

    public List<string>? Strings(string name)
    {
        if (Payload.ValueKind != JsonValueKind.Object || !Payload.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String))
        {
            throw new TaskFailedException($"Payload field '{name}' must be an array of strings.");
        }

        return [.. value.EnumerateArray().Select(v => v.GetString()!)];
    }

    public Dictionary<string, string>? Map(string name)
    {
        if (Payload.ValueKind != JsonValueKind.Object || !Payload.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object || value.EnumerateObject().Any(p => p.Value.ValueKind != JsonValueKind.String))
        {
            throw new TaskFailedException($"Payload field '{name}' must be an object of string values.");
        }

        return value.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
    }
}
