namespace Orchestrator.Tasks;

/// <summary>What tasks need to know about agents: where a new task goes, and whether an agent drains. The agent
/// registry (Agents) answers it; Agents sits above Tasks (its heartbeat hands out tasks, deleting an agent ends its
/// tasks), so Tasks asks through this and never references agents itself.</summary>
public interface ITaskAgents
{
    /// <summary>The agent a new task goes to, its id in <c>Task.AgentId</c> of a transient task; otherwise why there
    /// is none (not found, draining, offline, nothing matches). Call it inside the transaction that inserts the task:
    /// the chosen agent is then held until that transaction ends, so the agent's deletion either waits for the task
    /// (and cancels it with the agent's others) or has already happened (and the agent is not found). An agent that
    /// reported its task types and lacks <paramref name="taskType"/> is never chosen (Unprocessable, naming the types).</summary>
    Task<TaskResult> ChooseAsync(Guid? agentId, TaskSelector? selector, string taskType, CancellationToken cancellationToken);

    /// <summary>The agent's id while it drains, else no row: a query on the caller's own context, so it can ride in
    /// the caller's statement. A draining agent gets no new tasks (DESIGN): ones created before the drain wait for
    /// resume, or end after <c>UndeliveredTimeout</c>, or are cancelled by an operator.</summary>
    IQueryable<Guid> Draining(Guid agentId);

    /// <summary>The same rule as <see cref="Draining"/> as an SQL condition, true while the agent whose id is
    /// <paramref name="agentId"/> (a placeholder such as <c>{2}</c>) drains, for a statement LINQ cannot say (the
    /// claim, which returns the rows it changed).</summary>
    string DrainingCondition(string agentId);

    /// <summary>Why a task of this agent that has not started cannot move now (the agent is offline or draining), for
    /// the people following it; null when the agent can take it, or is gone (the task then ends on its own).</summary>
    Task<Contracts.TaskWaitingEvent?> WhyWaitingAsync(Guid agentId, CancellationToken cancellationToken);
}
