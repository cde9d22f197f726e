namespace Orchestrator.Agent;

/// <summary>The agent's exit codes (docs/agent.md). systemd restarts on failure, so the "cannot start" and "revoked"
/// codes are listed in the unit's RestartPreventExitStatus: restarting cannot fix them.</summary>
public static class ExitCodes
{
    /// <summary>Stopped by SIGTERM/SIGINT after draining.</summary>
    public const int Ok = 0;

    /// <summary>An unexpected failure; a restart may help.</summary>
    public const int Failure = 1;

    /// <summary>Cannot start: no identity and no token, registration refused, certificate expired without a token, or the
    /// server's CA does not match what was pinned.</summary>
    public const int CannotStart = 2;

    /// <summary>The server revoked the agent's credentials (the agent was deleted).</summary>
    public const int Revoked = 3;

    /// <summary>Bad flags or settings.</summary>
    public const int Usage = 64;
}

/// <summary>Ends the agent with an exit code and a message for the operator.</summary>
public sealed class AgentExitException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
