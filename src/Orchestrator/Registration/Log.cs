namespace Orchestrator.Registration;

/// <summary>Every log line of registration (event ids 600-699).</summary>
internal static partial class Log
{
    [LoggerMessage(600, LogLevel.Information, "Agent {AgentName} ({AgentId}) {Action} with registration token {TokenId}")]
    public static partial void AgentRegistered(this ILogger logger, string agentName, Guid agentId, string action, Guid tokenId);

    [LoggerMessage(601, LogLevel.Warning,
        "A refused registration could not give back its use of registration token {TokenId}; the token has one use fewer")]
    public static partial void UseNotGivenBack(this ILogger logger, Guid tokenId, Exception exception);
}
