namespace Orchestrator.Cli;

/// <summary>What the command's exit status means (docs/cli.md). 0, 1, 2, 64 and 124 are a contract CI pipelines rely on.</summary>
public static class ExitCodes
{
    /// <summary>The command did what it was asked; a waited-for task succeeded.</summary>
    public const int Ok = 0;

    /// <summary>The waited-for task failed, was cancelled or timed out (its status and reason are on stderr).</summary>
    public const int TaskFailed = 1;

    /// <summary>The API refused the request: its problem's title and detail are on stderr, nothing is on stdout.</summary>
    public const int Refused = 2;

    /// <summary>Wrong flags or arguments (sysexits EX_USAGE).</summary>
    public const int Usage = 64;

    /// <summary>The server could not be reached or trusted (sysexits EX_UNAVAILABLE).</summary>
    public const int Unavailable = 69;

    /// <summary>A defect of this command (sysexits EX_SOFTWARE).</summary>
    public const int Internal = 70;

    /// <summary>The wait ran out while the task was still unfinished (as timeout(1)).</summary>
    public const int WaitTimedOut = 124;

    /// <summary>Interrupted (Ctrl-C, SIGTERM): the task, if any, carries on.</summary>
    public const int Interrupted = 130;
}

/// <summary>A usage mistake the user must fix: printed as is, exit 64.</summary>
public sealed class UsageException(string message) : Exception(message);
