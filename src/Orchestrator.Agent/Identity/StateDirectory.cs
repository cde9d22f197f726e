using System.Text;

namespace Orchestrator.Agent.Identity;

/// <summary>The agent's state directory: owner-only (0700), and every file in it written atomically (a temporary file
/// in the same directory, flushed, then renamed over the old one), so a crash leaves the old or the new file, never half.</summary>
public sealed class StateDirectory
{
    public const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public StateDirectory(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
    }

    public string Path { get; }

    /// <summary>Creates the directory (0700), or tightens an existing one to 0700.</summary>
    public StateDirectory Ensure()
    {
        Directory.CreateDirectory(Path);
        if (!OperatingSystem.IsWindows())
        {
            System.IO.File.SetUnixFileMode(Path, OwnerOnlyDirectory);
        }

        return this;
    }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Subdirectory(string name)
    {
        var path = File(name);
        Directory.CreateDirectory(path);
        if (!OperatingSystem.IsWindows())
        {
            System.IO.File.SetUnixFileMode(path, OwnerOnlyDirectory);
        }

        return path;
    }

    public static void WriteAtomically(string path, string content) => WriteAtomically(path, Encoding.UTF8.GetBytes(content));

    /// <summary>Writes a 0600 file atomically: the content is on disk before the rename makes it visible.</summary>
    public static void WriteAtomically(string path, byte[] content)
    {
        var temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.WriteThrough };
            if (!OperatingSystem.IsWindows())
            {
                // Created owner-only: the secret is never readable by others, not even for a moment.
                options.UnixCreateMode = OwnerOnlyFile;
            }

            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }

            System.IO.File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (System.IO.File.Exists(temporary))
            {
                System.IO.File.Delete(temporary);
            }
        }
    }
}
