using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orchestrator.Contracts;

[JsonConverter(typeof(JsonStringEnumConverter<AgentStatus>))]
public enum AgentStatus
{
    [JsonStringEnumMemberName("online")] Online,
    [JsonStringEnumMemberName("offline")] Offline,
    [JsonStringEnumMemberName("degraded")] Degraded,
}

[JsonConverter(typeof(JsonStringEnumConverter<AgentTaskStatus>))]
public enum AgentTaskStatus
{
    [JsonStringEnumMemberName("pending")] Pending,
    [JsonStringEnumMemberName("assigned")] Assigned,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("cancelling")] Cancelling,
    [JsonStringEnumMemberName("cancelled")] Cancelled,
    [JsonStringEnumMemberName("timed_out")] TimedOut,
}

[JsonConverter(typeof(JsonStringEnumConverter<RolloutStatus>))]
public enum RolloutStatus
{
    [JsonStringEnumMemberName("pending")] Pending,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("paused")] Paused,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("cancelling")] Cancelling,
    [JsonStringEnumMemberName("cancelled")] Cancelled,
}

/// <summary>Where one agent of a rollout stands: <c>pending</c> until its task runs (waiting for its batch, or its task
/// not started yet), then its task's outcome (<c>failed</c> also for a task that timed out); <c>skipped</c> when it was
/// offline or draining as its batch started; <c>not_started</c> when the rollout ended before its batch.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RolloutTargetStatus>))]
public enum RolloutTargetStatus
{
    [JsonStringEnumMemberName("pending")] Pending,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("skipped")] Skipped,
    [JsonStringEnumMemberName("cancelled")] Cancelled,
    [JsonStringEnumMemberName("not_started")] NotStarted,
}

[JsonConverter(typeof(JsonStringEnumConverter<ApiKeyRole>))]
public enum ApiKeyRole
{
    [JsonStringEnumMemberName("viewer")] Viewer = 0,
    [JsonStringEnumMemberName("operator")] Operator = 1,
    [JsonStringEnumMemberName("admin")] Admin = 2,
}

public static class WireNames
{
    /// <summary>Every value's name on the wire, in declaration order: the names an API answer lists as allowed.</summary>
    public static string[] All(Type enumType) =>
    [
        .. enumType.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => f.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(f.Name)),
    ];

    /// <summary>The name on the wire (<c>timed_out</c>), as serialised.</summary>
    public static string Of<TEnum>(TEnum value) where TEnum : struct, Enum =>
        typeof(TEnum).GetField(value.ToString())!
            .GetCustomAttributes(typeof(JsonStringEnumMemberNameAttribute), false)
            .Cast<JsonStringEnumMemberNameAttribute>().Single().Name;

    public static bool TryParse<TEnum>(string value, out TEnum parsed) where TEnum : struct, Enum
    {
        foreach (var candidate in Enum.GetValues<TEnum>())
        {
            if (Of(candidate) == value)
            {
                parsed = candidate;
                return true;
            }
        }

        parsed = default;
        return false;
    }

    /// <summary>Final task states: the task can no longer change.</summary>
    public static bool IsFinal(this AgentTaskStatus status) =>
        status is AgentTaskStatus.Succeeded or AgentTaskStatus.Failed or AgentTaskStatus.Cancelled or AgentTaskStatus.TimedOut;

    /// <summary>Final rollout states: no batch starts and no task of it runs any more.</summary>
    public static bool IsFinal(this RolloutStatus status) =>
        status is RolloutStatus.Succeeded or RolloutStatus.Failed or RolloutStatus.Cancelled;
}
