using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Agents;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Http;
using Orchestrator.Tasks;

namespace Orchestrator.Rollouts;

/// <summary>What operators do to rollouts: create one (its target set fixed there and then), pause, resume and cancel
/// it. Each change holds the rollout's row (<see cref="RolloutRows"/>), so it never crosses a driver's step.</summary>
public sealed class RolloutCommands(
    OrchestratorDbContext db, RolloutRecorder recorder, TaskCredentials credentials, TaskCancellation cancellation, AuditLog audit,
    IOptions<RolloutOptions> options)
{
    /// <summary>A rollout to create: its tasks' definition (no agent, selector or idempotency key of their own), exactly
    /// one of <paramref name="Selector"/> or <paramref name="AgentIds"/>, and a validated strategy.</summary>
    public sealed record NewRollout(
        string? Name, TaskCommands.NewTask Task, TaskSelector? Selector, IReadOnlyList<Guid>? AgentIds, RolloutStrategy Strategy,
        string? IdempotencyKey);

    private sealed record Candidate(Guid Id, string Name);

    public async Task<RolloutResult> CreateAsync(NewRollout request, string actor, CancellationToken cancellationToken)
    {
        if (request.IdempotencyKey is not null && await ReplayAsync(request, cancellationToken) is { } earlier)
        {
            return earlier;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var (agents, refused) = await TargetsAsync(request, cancellationToken);
        if (refused is not null)
        {
            return refused;
        }

        var strategy = request.Strategy;
        var total = agents.Count;
        var batches = RolloutPlan.Batches(total, strategy.BatchSize, strategy.BatchPercent, strategy.Canary);
        var rollout = new Rollout
        {
            Id = Guid.CreateVersion7(recorder.Now),
            Name = request.Name,
            TaskType = request.Task.TaskType,
            PayloadJson = request.Task.PayloadJson,
            ProtectedCredentials = credentials.Protect(request.Task.Credentials),
            Priority = request.Task.Priority,
            TimeoutSeconds = request.Task.TimeoutSeconds,
            BatchSize = strategy.BatchSize,
            BatchPercent = strategy.BatchPercent,
            MaxFailures = strategy.MaxFailures,
            MaxFailurePercent = strategy.MaxFailurePercent,
            PauseSeconds = strategy.PauseSeconds ?? 0,
            Canary = strategy.Canary,
            FailureLimit = RolloutPlan.FailureLimit(total, strategy.MaxFailures, strategy.MaxFailurePercent),
            BatchCount = batches.Length == 0 ? 0 : batches[^1],
            IdempotencyKey = request.IdempotencyKey,
            CreatedBy = actor,
            CreatedAt = recorder.Now,
        };
        rollout.Targets = [.. agents.Select((agent, i) => new RolloutTarget
        {
            RolloutId = rollout.Id, AgentId = agent.Id, AgentName = agent.Name, Batch = batches[i], Position = i,
            Status = RolloutTargetStatus.Pending,
        })];
        db.Rollouts.Add(rollout);
        recorder.Status(rollout, RolloutStatus.Pending,
            $"Created by {actor}: {total} agents in {rollout.BatchCount} batches, waiting for the first to start.");
        audit.Record(actor, "rollout.created", "rollout", rollout.Id.ToString(), new
        {
            rollout.Name,
            rollout.TaskType,
            targets = total,
            rollout.BatchCount,
            strategy = RolloutResponses.Strategy(rollout),
            selector = request.Selector,
            agentIds = request.AgentIds,
            rollout.IdempotencyKey,
            credentialNames = request.Task.Credentials?.Keys.Order(StringComparer.Ordinal).ToArray(),
        });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch (DbUpdateException ex) when (request.IdempotencyKey is not null && !TransientFailures.IsTransient(ex))
        {
            // Another request with the same key won the unique index: answer with its rollout.
            recorder.Forget();
            await transaction.RollbackAsync(cancellationToken);
            db.ChangeTracker.Clear();
            return await ReplayAsync(request, cancellationToken) ?? throw new InvalidOperationException("The rollout could not be stored.");
        }

        await recorder.CommittedAsync();
        return new RolloutResult(RolloutOutcome.Ok, rollout);
    }

    /// <summary>The target set: the agents named or matched that are not draining, in name order (ordinal, the same on
    /// both providers). Unknown ids, named agents that do not run the task type, and no agent left, are refused; a
    /// selector leaves out the agents that do not run the type.</summary>
    private async Task<(List<Candidate> Agents, RolloutResult? Refused)> TargetsAsync(NewRollout request, CancellationToken cancellationToken)
    {
        List<Candidate> agents;
        var taskType = request.Task.TaskType;
        if (request.AgentIds is { } ids)
        {
            var found = await db.Agents.AsNoTracking().Where(a => ids.Contains(a.Id))
                .Select(a => new { a.Id, a.Name, Draining = a.DrainRequestedAt != null, a.TaskTypes })
                .ToDictionaryAsync(a => a.Id, cancellationToken);
            var errors = new Validation();
            for (var i = 0; i < ids.Count; i++)
            {
                if (!found.TryGetValue(ids[i], out var agent))
                {
                    errors.Add($"agentIds[{i}]", $"No agent has id {ids[i]}.");
                }
                else if (AgentRules.DoesNotRun(agent.Name, agent.TaskTypes, taskType) is { } refused)
                {
                    errors.Add($"agentIds[{i}]", refused);
                }
            }

            if (!errors.IsValid)
            {
                return ([], new RolloutResult(RolloutOutcome.Unprocessable, Errors: errors));
            }

            agents = [.. found.Values.Where(a => !a.Draining).Select(a => new Candidate(a.Id, a.Name))];
            if (agents.Count == 0)
            {
                return ([], RolloutResult.Unprocessable("agentIds", "Every agent given is draining: a rollout needs at least one that is not."));
            }
        }
        else
        {
            var selector = request.Selector!;
            var matching = db.Agents.AsNoTracking().Where(a => a.DrainRequestedAt == null)
                .Matching(selector.Capabilities ?? [], selector.Labels ?? []);
            agents = await matching.Running(taskType)
                .Select(a => new Candidate(a.Id, a.Name))
                .ToListAsync(cancellationToken);
            if (agents.Count == 0)
            {
                var reported = await matching.Select(a => a.TaskTypes).Take(100).ToListAsync(cancellationToken);
                return ([], reported.Count == 0
                    ? RolloutResult.Unprocessable("selector", "No agent that is not draining matches the selector.")
                    : RolloutResult.Unprocessable("taskType", AgentRules.NoneRuns(reported, taskType)));
            }
        }

        var limit = options.Value.MaxTargets;
        if (agents.Count > limit)
        {
            return ([], RolloutResult.Unprocessable(request.AgentIds is null ? "selector" : "agentIds",
                $"{agents.Count} agents match; a rollout may target at most {limit} (Orchestrator:Rollouts:MaxTargets)."));
        }

        agents.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return (agents, null);
    }

    private async Task<RolloutResult?> ReplayAsync(NewRollout request, CancellationToken cancellationToken)
    {
        var earlier = await db.Rollouts.AsNoTracking().Include(r => r.Targets)
            .FirstOrDefaultAsync(r => r.IdempotencyKey == request.IdempotencyKey, cancellationToken);
        if (earlier is null)
        {
            return null;
        }

        return earlier.TaskType == request.Task.TaskType
            ? new RolloutResult(RolloutOutcome.Replayed, earlier)
            : new RolloutResult(RolloutOutcome.Conflict, Detail:
                $"The idempotency key was already used for rollout {earlier.Id} of type '{earlier.TaskType}'; " +
                "use a new key for a different rollout.");
    }

    /// <summary>No batch starts until resumed; tasks already running go on. Pausing a paused rollout changes nothing.</summary>
    public Task<RolloutResult> PauseAsync(Guid rolloutId, string actor, CancellationToken cancellationToken) =>
        ControlAsync(rolloutId, cancellationToken, rollout =>
        {
            if (rollout.Status is RolloutStatus.Pending or RolloutStatus.Running)
            {
                recorder.Status(rollout, RolloutStatus.Paused, $"Paused by {actor}; no batch starts until it is resumed.");
                audit.Record(actor, "rollout.paused", "rollout", rollout.Id.ToString());
            }

            return rollout.Status == RolloutStatus.Cancelling ? Cancelling(rollout) : null;
        });

    /// <summary>Goes on from a pause, the canary's included. Resuming a rollout that is not paused changes nothing.</summary>
    public Task<RolloutResult> ResumeAsync(Guid rolloutId, string actor, CancellationToken cancellationToken) =>
        ControlAsync(rolloutId, cancellationToken, rollout =>
        {
            if (rollout.Status == RolloutStatus.Paused)
            {
                recorder.Status(rollout, rollout.StartedAt is null ? RolloutStatus.Pending : RolloutStatus.Running, $"Resumed by {actor}.");
                audit.Record(actor, "rollout.resumed", "rollout", rollout.Id.ToString());
            }

            return rollout.Status == RolloutStatus.Cancelling ? Cancelling(rollout) : null;
        });

    /// <summary>No batch starts any more and the targets still waiting end <c>not_started</c>; the tasks not yet ended
    /// are cancelled (a pending one at once, a running one once its agent stops it), and the rollout ends
    /// <c>cancelled</c> when they have.</summary>
    public async Task<RolloutResult> CancelAsync(Guid rolloutId, string actor, CancellationToken cancellationToken)
    {
        var result = await ControlAsync(rolloutId, cancellationToken, rollout =>
        {
            if (rollout.Status == RolloutStatus.Cancelling)
            {
                return null;
            }

            rollout.CancelledBy = actor;
            rollout.NextBatchAt = null;
            foreach (var target in rollout.Targets.Where(t => t.TaskId is null && !t.Status.IsFinal()).OrderBy(t => t.Position))
            {
                recorder.Target(target, RolloutTargetStatus.NotStarted, $"The rollout was cancelled by {actor} before batch {target.Batch} started.");
            }

            audit.Record(actor, "rollout.cancelled", "rollout", rollout.Id.ToString());
            if (rollout.Targets.Any(t => !t.Status.IsFinal()))
            {
                recorder.Status(rollout, RolloutStatus.Cancelling, $"Cancelled by {actor}; waiting for its running tasks to stop.");
            }
            else
            {
                recorder.End(rollout, RolloutStatus.Cancelled, $"Cancelled by {actor}.");
            }

            return null;
        });
        if (result is { Outcome: RolloutOutcome.Ok, Rollout: { } cancelled })
        {
            foreach (var target in cancelled.Targets.Where(t => t.TaskId is not null && !t.Status.IsFinal()))
            {
                // A task that ended meanwhile answers 409 here; the driver records how it ended.
                await cancellation.RequestAsync(target.TaskId!.Value, actor, cancellationToken);
            }
        }

        return result;
    }

    private static RolloutResult Cancelling(Rollout rollout) =>
        new(RolloutOutcome.Conflict, rollout, $"Rollout {rollout.Id} is being cancelled.");

    /// <summary>Locks the rollout, refuses a finished one (409), and commits what <paramref name="decide"/> changed
    /// unless it refused.</summary>
    private async Task<RolloutResult> ControlAsync(Guid rolloutId, CancellationToken cancellationToken, Func<Rollout, RolloutResult?> decide)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (!await RolloutRows.LockAsync(db, rolloutId, cancellationToken))
        {
            return RolloutResult.NotFound(rolloutId);
        }

        var rollout = await db.Rollouts.Include(r => r.Targets).FirstAsync(r => r.Id == rolloutId, cancellationToken);
        if (rollout.Status.IsFinal())
        {
            return new RolloutResult(RolloutOutcome.Conflict, rollout, $"Rollout {rolloutId} has already ended ({rollout.Status.WireName()}).");
        }

        if (decide(rollout) is { } refused)
        {
            recorder.Forget();
            return refused;
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        await recorder.CommittedAsync();
        return new RolloutResult(RolloutOutcome.Ok, rollout);
    }
}
