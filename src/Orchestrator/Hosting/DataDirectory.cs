using Microsoft.Extensions.Options;

namespace Orchestrator.Hosting;

/// <summary>The resolved, existing data directory.</summary>
public sealed class DataDirectory
{
    /// <summary>What the service itself writes here; a directory holding only other things is someone else's.</summary>
    private static readonly string[] OwnFilePrefixes = ["orchestrator.db", "admin-api-key", "key-encryption.pfx"];

    public DataDirectory(IOptions<OrchestratorOptions> options, IHostEnvironment environment)
    {
        Path = System.IO.Path.GetFullPath(options.Value.DataDirectory, environment.ContentRootPath);
        RefuseForeign(Path);
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

    /// <summary>A directory that exists and holds files, none of them the service's, is refused: a mistyped or reused
    /// path (a home directory, /tmp/orch of another tool) would otherwise get a database, keys and the admin key
    /// written among someone else's files without a word. Hidden entries and lost+found (a volume's root) are not
    /// counted.</summary>
    private static void RefuseForeign(string path)
    {
        if (!Directory.Exists(path))
        {
            return;
        }

        var entries = Directory.EnumerateFileSystemEntries(path)
            .Select(System.IO.Path.GetFileName)
            .Where(name => name is not null && !name.StartsWith('.') && name != "lost+found")
            .ToList();
        if (entries.Count > 0 && !entries.Any(name => OwnFilePrefixes.Any(own => name!.StartsWith(own, StringComparison.Ordinal))))
        {
            throw new InvalidOperationException(
                $"The data directory {path} (Orchestrator:DataDirectory) holds files that are not Orchestrator's, such as " +
                $"'{entries.Order(StringComparer.Ordinal).First()}'. Point Orchestrator:DataDirectory at a new or empty directory.");
        }
    }
}
