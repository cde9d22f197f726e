using System.Diagnostics;

namespace Orchestrator.Testing;

/// <summary>Directories for a test's own files (an agent's state, a token file, a CA bundle, a document to lint), all
/// under one directory of the test process (<c>orch-tests-{pid}-…</c> in the temporary directory), deleted when the
/// process exits, or by the next test process where it was ended without its exit handlers (the server suite's test
/// host, in CI): a test need not delete each one, and at most one such directory stays between runs (each run of the
/// suite used to leave about thirty).</summary>
public static class TempDirectories
{
    private const string RootPrefix = "orch-tests-";
    private static readonly Lazy<string> Root = new(CreateRoot);

    /// <summary>A new empty directory, readable by its owner only (as an agent's state directory must be), named
    /// <paramref name="prefix"/> and a random part.</summary>
    public static string New(string prefix = "orch-agent-")
    {
        var path = Path.Combine(Root.Value, $"{prefix}{Guid.NewGuid():N}"[..(prefix.Length + 12)]);
        return OperatingSystem.IsWindows()
            ? Directory.CreateDirectory(path).FullName
            : Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute).FullName;
    }

    private static string CreateRoot()
    {
        RemoveLeftovers();
        var root = Directory.CreateTempSubdirectory($"{RootPrefix}{Environment.ProcessId}-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Delete(root);
        return root;
    }

    /// <summary>The roots of test processes that are gone without deleting theirs: the test host is not always let run
    /// its exit handlers (it is stopped when the run ends, or at a time limit).</summary>
    private static void RemoveLeftovers()
    {
        foreach (var directory in Directory.EnumerateDirectories(Path.GetTempPath(), RootPrefix + "*"))
        {
            var owner = Path.GetFileName(directory)[RootPrefix.Length..].Split('-')[0];
            if (int.TryParse(owner, out var pid) && !IsRunning(pid))
            {
                Delete(directory);
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void Delete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Still written to (a process a failed test left running), or deleted by another test process meanwhile:
            // what remains goes with a later run's look for leftovers.
        }
    }
}
