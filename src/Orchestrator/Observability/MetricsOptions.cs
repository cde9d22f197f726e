using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Orchestrator.Observability;

/// <summary><c>Orchestrator:Metrics</c>: whether <c>/metrics</c> is served, who may read it, and how fresh the fleet
/// counts it reports are.</summary>
public sealed class MetricsOptions : IValidatableObject
{
    public const string Section = "Orchestrator:Metrics";

    /// <summary>False: no meters are listened to and <c>/metrics</c> is not mapped (404).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>True: <c>/metrics</c> needs an API key (any role) in <c>X-Api-Key</c>. By default it is open: it holds
    /// counts and durations only, no agent, task or key names, and Prometheus scrapes it without credentials.</summary>
    public bool RequireApiKey { get; set; }

    /// <summary>How often the fleet counts (agents by status, unfinished tasks by status, the earliest certificate
    /// expiry) are read from the database. A scrape reads the last counts from memory and never queries.</summary>
    public TimeSpan CensusInterval { get; set; } = TimeSpan.FromSeconds(15);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (CensusInterval < TimeSpan.FromMilliseconds(100) || CensusInterval > TimeSpan.FromHours(1))
        {
            yield return new ValidationResult("Orchestrator:Metrics:CensusInterval must be from 00:00:00.1 to 01:00:00.");
        }
    }
}

[OptionsValidator]
internal sealed partial class MetricsOptionsValidator : IValidateOptions<MetricsOptions>;
