using Orchestrator.Http;

namespace Orchestrator.Security;

/// <summary>How route groups open, so every feature's routes carry the same authorization answers.</summary>
public static class ApiRoutes
{
    /// <summary>Swagger UI groups the agent's own operations under tags starting so, apart from the operators' (a browser
    /// cannot present an agent's client certificate, so they are documentation there, not something to try).</summary>
    public const string AgentTagPrefix = "Agent API: ";

    /// <summary>The tag of a group of agent operations (<see cref="AgentTagPrefix"/> + <paramref name="name"/>).</summary>
    public static string AgentTag(string name) => AgentTagPrefix + name;

    /// <summary>The agent's own routes, <c>/api/v1/agents/{id}/…</c>: its client certificate and bound token, and
    /// <c>{id}</c> must be its own (403 otherwise). Mapped once; each feature adds its routes to it. Their answers may
    /// carry a renewed certificate's token or a task's credentials: never stored by a cache.</summary>
    public static RouteGroupBuilder MapAgentRoutes(this IEndpointRouteBuilder routes) =>
        routes.MapGroup("/api/v1/agents/{id}")
            .CarriesSecrets()
            .RequireAuthorization(Policies.Agent)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden);

    /// <summary>A group of operator routes (API key): tagged for Swagger UI, and answering 401 without a valid key
    /// and 403 when the key's role is too low. Each route names the role it needs.</summary>
    public static RouteGroupBuilder MapOperatorRoutes(this IEndpointRouteBuilder routes, string prefix, string tag) =>
        routes.MapGroup(prefix).WithTags(tag)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden);
}
