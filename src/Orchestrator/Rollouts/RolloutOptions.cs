using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Orchestrator.Rollouts;

public sealed class RolloutOptions : IValidatableObject
{
    public const string Section = "Orchestrator:Rollouts";

    /// <summary>How often the driver looks at every unfinished rollout even when nothing woke it. Task ends, rollout
    /// changes and the end of a pause wake it at once; this only bounds what a lost cluster event can delay.</summary>
    public TimeSpan DriverInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Most agents one rollout may target.</summary>
    public int MaxTargets { get; set; } = 10_000;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (DriverInterval <= TimeSpan.Zero)
        {
            yield return new ValidationResult("Orchestrator:Rollouts:DriverInterval must be greater than zero.");
        }

        if (MaxTargets < 1)
        {
            yield return new ValidationResult("Orchestrator:Rollouts:MaxTargets must be at least 1.");
        }
    }
}

[OptionsValidator]
internal sealed partial class RolloutOptionsValidator : IValidateOptions<RolloutOptions>;
