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

[JsonConverter(typeof(JsonStringEnumConverter<ApiKeyRole>))]
public enum ApiKeyRole
{
    [JsonStringEnumMemberName("viewer")] Viewer = 0,
    [JsonStringEnumMemberName("operator")] Operator = 1,
    [JsonStringEnumMemberName("admin")] Admin = 2,
}

public static class WireNames
{
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
}
