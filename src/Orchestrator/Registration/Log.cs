namespace Orchestrator.Registration;

/// <summary>Every log line of registration (event ids 600-699).</summary>
internal static partial class Log
{
    [LoggerMessage(600, LogLevel.Information, "Agent {AgentName} ({AgentId}) {Action} with registration token {TokenId}")]
    public static partial void AgentRegistered(this ILogger logger, string agentName, Guid agentId, string action, Guid tokenId);
}
