using Microsoft.Extensions.Options;

namespace Orchestrator.Hosting;

/// <summary>The resolved, existing data directory.</summary>
public sealed class DataDirectory
{
    public DataDirectory(IOptions<OrchestratorOptions> options, IHostEnvironment environment)
    {
        Path = System.IO.Path.GetFullPath(options.Value.DataDirectory, environment.ContentRootPath);
        if (OperatingSystem.IsWindows() || Directory.Exists(Path))
        {
            Directory.CreateDirectory(Path);
        }
        else
        {
            // Created here: only the service's user may enter it (0700). An existing one is the operator's to set.
            Directory.CreateDirectory(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);
}
