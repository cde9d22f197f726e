namespace Orchestrator.Hosting;

/// <summary>Every channel replicas talk on (<see cref="IClusterEvents"/>), in one place, so the cluster protocol can be
/// read at a glance and a lower feature can listen to a higher one without referencing it.</summary>
public static class ClusterChannels
{
    /// <summary>Comma-separated ids of agents whose row changed (status, capabilities, drain, deletion): caches forget
    /// them and waiting work is looked for again. Sent in chunks: PostgreSQL NOTIFY payloads are limited to 8000 bytes.</summary>
    public const string AgentsChanged = "agents.changed";

    /// <summary><c>{"taskId","agentId"}</c>: a task was created for the agent.</summary>
    public const string TaskCreated = "task.created";

    /// <summary><c>{"taskId","agentId"}</c>: the agent must stop the task (cancel requested or timed out).</summary>
    public const string TaskCancelled = "task.cancelled";

    /// <summary><c>{"taskId","ended"}</c>: a task's status, progress or logs changed (committed); waits and event
    /// streams of that task read it again.</summary>
    public const string TaskChanged = "task.changed";

    /// <summary><c>{"rolloutId","ended"}</c>: a rollout changed (committed): created, a batch started, a target moved,
    /// paused, resumed, cancelled or ended. Drivers on every replica look at it, and its waits and event streams read it.</summary>
    public const string RolloutChanged = "rollout.changed";

    /// <summary><c>{"agentId","serials"}</c>: certificates revoked; streams of that agent or those certificates close.</summary>
    public const string AgentRevoked = "agent.revoked";

    /// <summary>The CA roots changed (rotation): every replica reloads them.</summary>
    public const string CaChanged = "ca.changed";

    /// <summary>The token signing keys changed (rotation): every replica reloads them.</summary>
    public const string TokenKeysChanged = "token-keys.changed";

    /// <summary>Every channel above: metrics name a channel only from this closed set.</summary>
    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal)
    {
        AgentsChanged, TaskCreated, TaskCancelled, TaskChanged, RolloutChanged, AgentRevoked, CaChanged, TokenKeysChanged,
    };

    /// <summary>Reads a comma-separated id list (<see cref="AgentsChanged"/>): <paramref name="each"/> for every id,
    /// or <paramref name="all"/> for a payload that is not a list of ids (to be safe).</summary>
    public static void ForEachId(string payload, Action<Guid> each, Action all)
    {
        var ids = new List<Guid>();
        foreach (var part in payload.Split(','))
        {
            if (!Guid.TryParse(part, out var id))
            {
                all();
                return;
            }

            ids.Add(id);
        }

        ids.ForEach(each);
    }
}
