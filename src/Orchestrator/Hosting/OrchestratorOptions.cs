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

    /// <summary>Swagger UI keeps the API key entered with Authorize in the browser's local storage across reloads. Off:
    /// a key left in a shared browser's storage is readable by any script of the origin and outlives the session.</summary>
    public bool SwaggerPersistAuthorization { get; set; }
}

[OptionsValidator]
internal sealed partial class OrchestratorOptionsValidator : IValidateOptions<OrchestratorOptions>;
