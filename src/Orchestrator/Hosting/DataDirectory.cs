using Microsoft.Extensions.Options;

namespace Orchestrator.Hosting;

/// <summary>The resolved, existing data directory.</summary>
public sealed class DataDirectory
{
    public DataDirectory(IOptions<OrchestratorOptions> options, IHostEnvironment environment)
    {
        Path = System.IO.Path.GetFullPath(options.Value.DataDirectory, environment.ContentRootPath);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);
}
