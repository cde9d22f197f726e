using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Orchestrator.Hosting;

/// <summary>Root settings (<c>Orchestrator:*</c>). Each feature binds and validates its own section beside itself.</summary>
public sealed class OrchestratorOptions
{
    public const string Section = "Orchestrator";

    /// <summary>Where the SQLite file, the generated admin key file and other local state live.
    /// Relative paths are resolved against the content root (the binary's folder), never the working directory.</summary>
    [Required(AllowEmptyStrings = false)]
    public string DataDirectory { get; set; } = "data";

    /// <summary>Largest request body accepted, in bytes.</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public long MaxRequestBodyBytes { get; set; } = 1024 * 1024;

    public bool SwaggerEnabled { get; set; } = true;
}

[OptionsValidator]
internal sealed partial class OrchestratorOptionsValidator : IValidateOptions<OrchestratorOptions>;
