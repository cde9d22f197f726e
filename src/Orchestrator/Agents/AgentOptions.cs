using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Orchestrator.Agents;

public sealed class AgentOptions : IValidatableObject
{
    public const string Section = "Orchestrator:Agents";

    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);
    public TimeSpan TaskPollInterval { get; set; } = TimeSpan.FromSeconds(5);

    [RegularExpression("^(trace|debug|info|warn|error)$",
        ErrorMessage = "Orchestrator:Agents:LogLevel must be one of trace, debug, info, warn, error.")]
    public string LogLevel { get; set; } = "info";

    public int MissedHeartbeats { get; set; } = 3;

    /// <summary>How often buffered heartbeats (<c>lastHeartbeat</c>, resource usage) are written; a crash loses at
    /// most this much of them. Status changes never wait for it.</summary>
    public TimeSpan HeartbeatFlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long without a heartbeat before an agent is offline.</summary>
    public TimeSpan OfflineAfter => HeartbeatInterval * MissedHeartbeats;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (HeartbeatInterval <= TimeSpan.Zero)
        {
            yield return new ValidationResult("Orchestrator:Agents:HeartbeatInterval must be greater than zero.");
        }

        if (MissedHeartbeats is < 1 or > 100)
        {
            yield return new ValidationResult("Orchestrator:Agents:MissedHeartbeats must be between 1 and 100.");
        }

        if (TaskPollInterval <= TimeSpan.Zero)
        {
            yield return new ValidationResult("Orchestrator:Agents:TaskPollInterval must be greater than zero.");
        }

        if (HeartbeatFlushInterval < TimeSpan.FromMilliseconds(10) || HeartbeatFlushInterval > TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Orchestrator:Agents:HeartbeatFlushInterval must be from 00:00:00.010 to 00:00:01.");
        }
    }
}

[OptionsValidator]
internal sealed partial class AgentOptionsValidator : IValidateOptions<AgentOptions>;
