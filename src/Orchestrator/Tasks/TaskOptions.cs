using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Orchestrator.Tasks;

public sealed class TaskOptions : IValidatableObject
{
    public const string Section = "Orchestrator:Tasks";

    /// <summary>A delivered task the agent has not started is delivered again after this long.</summary>
    public TimeSpan RedeliverAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>A task no agent collected within this long ends <c>timed_out</c>, so a task for an agent that never
    /// returns still reaches a final state (24 h, like a queued CI job).</summary>
    public TimeSpan UndeliveredTimeout { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long a cancelling task waits for the agent's confirmation before it ends cancelled anyway.</summary>
    public TimeSpan CancelGracePeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often each replica looks, in one statement for the whole fleet, for agents with something waiting,
    /// and reads again for those it had remembered as idle. New and cancelled tasks reach an agent at once through task
    /// events; this only bounds the delay a lost event causes. Zero: no agent is remembered as idle, every heartbeat
    /// and stream tick reads.</summary>
    public TimeSpan IdleRecheckInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the monitor ends overdue tasks (timeouts, cancellation grace).</summary>
    public TimeSpan MonitorInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Timeout of a task created without one, in seconds (the spec's example: 300).</summary>
    public int DefaultTimeoutSeconds { get; set; } = 300;

    /// <summary>Largest timeout a task may ask for, in seconds.</summary>
    public int MaxTimeoutSeconds { get; set; } = 24 * 60 * 60;

    /// <summary>Most tasks handed out in one heartbeat or poll answer; the rest follow in the next.</summary>
    public int MaxTasksPerDelivery { get; set; } = 20;

    /// <summary>Largest task payload, in bytes of JSON.</summary>
    public int MaxPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>Largest credentials map, in bytes of JSON.</summary>
    public int MaxCredentialsBytes { get; set; } = 16 * 1024;

    /// <summary>Largest completion result, in bytes of JSON.</summary>
    public int MaxResultBytes { get; set; } = 64 * 1024;

    /// <summary>Most log lines in one completion.</summary>
    public int MaxLogLinesPerCompletion { get; set; } = 1000;

    /// <summary>Longest log line, in characters.</summary>
    public int MaxLogLineLength { get; set; } = 8 * 1024;

    /// <summary>Most log lines kept per task; later lines are counted and dropped.</summary>
    public int MaxStoredLogLines { get; set; } = 5000;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (name, value) in new[]
                 {
                     (nameof(RedeliverAfter), RedeliverAfter), (nameof(CancelGracePeriod), CancelGracePeriod),
                     (nameof(UndeliveredTimeout), UndeliveredTimeout), (nameof(MonitorInterval), MonitorInterval),
                 })
        {
            if (value <= TimeSpan.Zero)
            {
                yield return new ValidationResult($"Orchestrator:Tasks:{name} must be greater than zero.");
            }
        }

        if (IdleRecheckInterval < TimeSpan.Zero)
        {
            yield return new ValidationResult("Orchestrator:Tasks:IdleRecheckInterval must not be negative.");
        }

        foreach (var (name, value, minimum) in new[]
                 {
                     (nameof(MaxTimeoutSeconds), MaxTimeoutSeconds, 1), (nameof(MaxPayloadBytes), MaxPayloadBytes, 2),
                     (nameof(MaxCredentialsBytes), MaxCredentialsBytes, 2), (nameof(MaxResultBytes), MaxResultBytes, 4),
                     (nameof(MaxLogLineLength), MaxLogLineLength, 1),
                 })
        {
            if (value < minimum)
            {
                yield return new ValidationResult($"Orchestrator:Tasks:{name} must be at least {minimum}.");
            }
        }

        foreach (var (name, value) in new[]
                 {
                     (nameof(MaxLogLinesPerCompletion), MaxLogLinesPerCompletion), (nameof(MaxStoredLogLines), MaxStoredLogLines),
                 })
        {
            if (value < 0)
            {
                yield return new ValidationResult($"Orchestrator:Tasks:{name} must not be negative.");
            }
        }

        if (MaxTasksPerDelivery is < 1 or > 1000)
        {
            yield return new ValidationResult("Orchestrator:Tasks:MaxTasksPerDelivery must be from 1 to 1000.");
        }

        if (DefaultTimeoutSeconds < 1 || DefaultTimeoutSeconds > MaxTimeoutSeconds)
        {
            yield return new ValidationResult("Orchestrator:Tasks:DefaultTimeoutSeconds must be from 1 to Orchestrator:Tasks:MaxTimeoutSeconds.");
        }
    }
}

[OptionsValidator]
internal sealed partial class TaskOptionsValidator : IValidateOptions<TaskOptions>;
