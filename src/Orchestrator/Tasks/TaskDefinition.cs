using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Orchestrator.Http;

namespace Orchestrator.Tasks;

/// <summary>What a task is, as a request gives it: one task (<c>POST /api/v1/tasks</c>) or the tasks of a rollout. Checked
/// here once for both, so a rollout accepts exactly the tasks the task API accepts.</summary>
public readonly partial record struct TaskDefinition(
    string? TaskType, JsonElement? Payload, Dictionary<string, string>? Credentials, int? Priority, int? Timeout, TaskSelector? Selector,
    string? IdempotencyKey)
{
    private JsonElement? PayloadObject => Payload is { ValueKind: not JsonValueKind.Null } p ? p : null;

    /// <summary>The idempotency key of a create request: the body's <c>idempotencyKey</c> or the <c>Idempotency-Key</c>
    /// header (tasks and rollouts alike, as clients send either); both given and different is a 400.</summary>
    public static string? IdempotencyKeyOf(string? body, string? header, Validation errors)
    {
        errors.Require(body is null || header is null || body == header,
            "idempotencyKey", "'idempotencyKey' and the Idempotency-Key header differ; give one, or the same in both.");
        return body ?? header;
    }

    /// <summary>Adds what is wrong with the fields to <paramref name="errors"/> (a 400 naming each field).</summary>
    public Validation Validate(Validation errors, TaskOptions limits)
    {
        errors.RequireText(TaskType, "taskType", 128);
        if (TaskType is { Length: > 0 and <= 128 } type && !TaskTypePattern().IsMatch(type))
        {
            errors.Add("taskType", "'taskType' may contain letters, digits and . _ : / - and must start with a letter or digit.");
        }

        var payload = PayloadObject;
        errors.Require(payload is null || payload.Value.ValueKind == JsonValueKind.Object, "payload", "'payload' must be a JSON object.")
            .RequireShallow(payload, "payload");
        if (errors.IsValid)
        {
            PayloadSchemas.Check(TaskType!.Trim(), payload, errors);
        }

        errors.Require(Priority is null or (>= 0 and <= 100), "priority", "'priority' must be from 0 to 100.");
        errors.Require(Timeout is null || (Timeout >= 1 && Timeout <= limits.MaxTimeoutSeconds), "timeout",
            $"'timeout' must be from 1 to {limits.MaxTimeoutSeconds} seconds.");
        foreach (var (name, value) in Credentials ?? [])
        {
            errors.Require(name.Length is > 0 and <= 128, "credentials", "Credential names must be 1 to 128 characters.");
            errors.Require(value is not null, "credentials", $"Credential '{name}' has no value; values are strings.");
        }

        foreach (var capability in Selector?.Capabilities ?? [])
        {
            errors.Require(!string.IsNullOrWhiteSpace(capability), "selector.capabilities", "Capabilities must be non-empty strings.");
        }

        foreach (var (key, value) in Selector?.Labels ?? [])
        {
            errors.Require(key.Length > 0 && value is not null, "selector.labels", "Labels must have a non-empty key and a string value.");
        }

        return errors.Require(
            IdempotencyKey is null || (IdempotencyKey.Length is > 0 and <= 128 && !IdempotencyKey.Any(char.IsControl)),
            "idempotencyKey", "'idempotencyKey' must be 1 to 128 printable characters.");
    }

    /// <summary>A 413 naming the setting when the payload or the credentials are larger than allowed, else null.</summary>
    public ProblemHttpResult? Oversized(TaskOptions limits)
    {
        if (PayloadJson is { } json && Encoding.UTF8.GetByteCount(json) > limits.MaxPayloadBytes)
        {
            return TaskEndpoints.TooLarge($"'payload' is larger than {limits.MaxPayloadBytes} bytes (Orchestrator:Tasks:MaxPayloadBytes).");
        }

        return Credentials is { Count: > 0 } && JsonSerializer.SerializeToUtf8Bytes(Credentials).Length > limits.MaxCredentialsBytes
            ? TaskEndpoints.TooLarge($"'credentials' are larger than {limits.MaxCredentialsBytes} bytes (Orchestrator:Tasks:MaxCredentialsBytes).")
            : null;
    }

    public string? PayloadJson => PayloadObject?.GetRawText();

    /// <summary>The task to create, once validated; defaults filled in.</summary>
    public TaskCommands.NewTask ToNewTask(TaskOptions limits, Guid? agentId) =>
        new(TaskType!.Trim(), PayloadJson, Credentials, Priority ?? 0, Timeout ?? limits.DefaultTimeoutSeconds, agentId, Selector, IdempotencyKey);

    /// <summary>What a task type may be: agents report theirs in the same form.</summary>
    public static bool IsTaskType(string? value) => value is { Length: > 0 and <= 128 } && TaskTypePattern().IsMatch(value);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]
    private static partial Regex TaskTypePattern();
}
