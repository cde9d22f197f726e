using Orchestrator.Hosting;

namespace Orchestrator.Tasks;

/// <summary>Tells every replica's waiting requests (<c>?wait=</c>) and event streams that a task changed, so they read
/// it again from the database instead of polling it (<see cref="ChangeWatches"/>). Besides the task's own changes, a
/// change of its agent wakes its watches: deleting an agent ends its unfinished tasks in the transaction that removes
/// it, announced as an agent change.</summary>
public sealed class TaskChanges : IDisposable
{
    /// <summary>Payload <c>{"taskId","ended"}</c>: a task's status, progress or logs changed.</summary>
    public const string Channel = ClusterChannels.TaskChanged;

    public sealed record Change(Guid TaskId, bool Ended);

    private readonly ChangeWatches _watches;
    private readonly IDisposable _agents;

    public TaskChanges(IClusterEvents cluster, ILogger<TaskChanges> logger)
    {
        _watches = new ChangeWatches(cluster, Channel, "taskId", (ex, taskId) => logger.TaskEventNotPublished(ex, Channel, taskId));
        _agents = cluster.Subscribe(ClusterChannels.AgentsChanged,
            payload => ClusterChannels.ForEachId(payload, _watches.WakeGroup, _watches.WakeAll), _watches.WakeAll);
    }

    /// <summary>A message of <see cref="Channel"/>, or null for one that is not (to be ignored).</summary>
    public static Change? Parse(string payload) =>
        ChangeWatches.Parse(payload, "taskId") is var (taskId, ended) ? new Change(taskId, ended) : null;

    /// <summary>Watches now open on this replica (waits and event streams), of one task or of all.</summary>
    public int Watching(Guid? taskId = null) => _watches.Watching(taskId);

    /// <summary>Publishes that the task changed, after the change is committed (see <see cref="ChangeWatches.PublishAsync"/>).</summary>
    public Task PublishAsync(Guid taskId, bool ended) => _watches.PublishAsync(taskId, ended);

    /// <summary>Starts watching a task (and its agent). Open the watch before reading the task, so a change between the
    /// read and the wait is not missed. With <paramref name="endOnly"/> only the end of the task (or a resync) wakes it.</summary>
    public ChangeWatch Watch(Guid taskId, Guid agentId, bool endOnly) => _watches.Watch(taskId, endOnly, agentId);

    public void Dispose()
    {
        _agents.Dispose();
        _watches.Dispose();
    }
}
