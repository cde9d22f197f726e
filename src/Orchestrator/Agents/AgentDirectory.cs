using Microsoft.EntityFrameworkCore;
using Orchestrator.Data;
using Orchestrator.Targets;
using Orchestrator.Tasks;

namespace Orchestrator.Agents;

/// <summary>The agent registry's answers to the features below it (Tasks, Targets), which may not reference agents.</summary>
internal sealed class AgentDirectory(OrchestratorDbContext db) : ITaskAgents, ITargetAgents
{
    public async Task<TaskResult> ChooseAsync(Guid? agentId, TaskSelector? selector, string taskType, CancellationToken cancellationToken)
    {
        if (agentId is { } id)
        {
            if (!await AgentRows.HoldAsync(db, id, cancellationToken))
            {
                return new TaskResult(TaskOutcome.NotFound, Detail: $"No agent has id {id}.");
            }

            var agent = await db.Agents.AsNoTracking().Where(a => a.Id == id)
                .Select(a => new { a.Name, a.Status, a.DrainRequestedAt, a.TaskTypes }).FirstAsync(cancellationToken);

            // Before draining and offline: a task the agent can never run is wrong whatever the agent's state.
            if (AgentRules.DoesNotRun($"{agent.Name} ({id})", agent.TaskTypes, taskType) is { } refused)
            {
                return new TaskResult(TaskOutcome.Unprocessable, Detail: refused);
            }

            if (agent.DrainRequestedAt is not null)
            {
                return new TaskResult(TaskOutcome.Conflict, Detail: $"Agent {id} is draining and takes no new tasks.");
            }

            if (agent.Status == AgentStatus.Offline)
            {
                return new TaskResult(TaskOutcome.Unavailable,
                    Detail: $"Agent {id} is offline; tasks are accepted for online or degraded agents only.");
            }

            return Chosen(id);
        }

        var capabilities = selector?.Capabilities ?? [];
        var labels = selector?.Labels ?? [];
        var matching = db.Agents.AsNoTracking().Where(a => a.Status != AgentStatus.Offline && a.DrainRequestedAt == null)
            .Matching(capabilities, labels);
        var candidates = matching.Running(taskType);

        var unfinished = AgentTaskStatuses.Unfinished;
        var tasks = db.Tasks;
        var ranked = candidates
            .Select(a => new
            {
                a.Id,
                Rank = a.Status == AgentStatus.Online ? 0 : 1,
                Load = tasks.Count(t => t.AgentId == a.Id && unfinished.Contains(t.Status)),
            })
            .OrderBy(a => a.Rank).ThenBy(a => a.Load).ThenBy(a => a.Id);
        var best = await ranked.FirstOrDefaultAsync(cancellationToken);
        // The best match may be deleted between choosing and holding it: choose again among the rest.
        var gone = new List<Guid>();
        while (best is not null && !await AgentRows.HoldAsync(db, best.Id, cancellationToken))
        {
            gone.Add(best.Id);
            best = await ranked.Where(a => !gone.Contains(a.Id)).FirstOrDefaultAsync(cancellationToken);
        }

        if (best is null)
        {
            // Agents match but none runs the type: waiting will not help, so say which types they do run.
            var reported = await matching.Select(a => a.TaskTypes).Take(100).ToListAsync(cancellationToken);
            if (reported.Count > 0)
            {
                return new TaskResult(TaskOutcome.Unprocessable, Detail: AgentRules.NoneRuns(reported, taskType));
            }

            var wanted = string.Join(", ",
                capabilities.Select(c => $"capability '{c}'").Concat(labels.Select(l => $"label {l.Key}={l.Value}")));
            return new TaskResult(TaskOutcome.Unavailable, Detail:
                $"No online or degraded, non-draining agent matches the selector{(wanted.Length > 0 ? $" ({wanted})" : "")}.");
        }

        return Chosen(best.Id);

        static TaskResult Chosen(Guid agent) =>
            new(TaskOutcome.Ok, new AgentTask { TaskType = "", CreatedBy = "", AgentId = agent });
    }

    public async Task<Contracts.TaskWaitingEvent?> WhyWaitingAsync(Guid agentId, CancellationToken cancellationToken)
    {
        var agent = await db.Agents.AsNoTracking().Where(a => a.Id == agentId)
            .Select(a => new { a.Name, a.Status, a.StatusChangedAt, a.DrainRequestedAt, a.DrainReason })
            .FirstOrDefaultAsync(cancellationToken);
        if (agent is null)
        {
            return null;
        }

        if (agent.Status == AgentStatus.Offline)
        {
            return new Contracts.TaskWaitingEvent(
                $"Agent {agent.Name} is offline since {agent.StatusChangedAt:yyyy-MM-dd HH:mm:ss} UTC; the task waits for it to come back " +
                "(or times out once Orchestrator:Tasks:UndeliveredTimeout has passed since its creation).",
                agentId, agent.Name, agent.Status, agent.DrainRequestedAt is not null, agent.StatusChangedAt);
        }

        return agent.DrainRequestedAt is { } drained
            ? new Contracts.TaskWaitingEvent(
                $"Agent {agent.Name} is draining{(string.IsNullOrEmpty(agent.DrainReason) ? "" : $" ({agent.DrainReason})")} since " +
                $"{drained:yyyy-MM-dd HH:mm:ss} UTC; the task waits until the agent is resumed.",
                agentId, agent.Name, agent.Status, Draining: true, drained)
            : null;
    }

    public IQueryable<Guid> Draining(Guid agentId) =>
        db.Agents.Where(a => a.Id == agentId && a.DrainRequestedAt != null).Select(a => a.Id);

    // Keep beside Draining: the same rule, for raw SQL.
    public string DrainingCondition(string agentId) =>
        $"""EXISTS (SELECT 1 FROM "Agents" WHERE "Id" = {agentId} AND "DrainRequestedAt" IS NOT NULL)""";

    public Task<bool> ExistsAsync(Guid agentId, CancellationToken cancellationToken) =>
        db.Agents.AnyAsync(a => a.Id == agentId, cancellationToken);
}
