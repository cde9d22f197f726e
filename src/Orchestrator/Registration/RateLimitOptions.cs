using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Orchestrator.Registration;

public sealed class RateLimitOptions : IValidatableObject
{
    public const string Section = "Orchestrator:RateLimits";

    public int RegistrationsPerMinute { get; set; } = 60;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (RegistrationsPerMinute is < 1 or > 1_000_000)
        {
            yield return new ValidationResult("Orchestrator:RateLimits:RegistrationsPerMinute must be between 1 and 1000000.");
        }
    }
}

[OptionsValidator]
internal sealed partial class RateLimitOptionsValidator : IValidateOptions<RateLimitOptions>;
