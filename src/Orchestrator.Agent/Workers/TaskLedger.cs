namespace Orchestrator.Agent.Workers;

/// <summary>Which task ids the agent has already taken, so a task delivered again (delivery is at-least-once: by the
/// stream, a heartbeat and the poll, and again after a while when it looks unstarted) runs once. Ids of tasks that are
/// running or waiting are always known; finished ones are remembered up to <c>capacity</c>, oldest forgotten first, which
/// covers far longer than the server's redelivery delay.</summary>
public sealed class TaskLedger(int capacity = 10_000)
{
    private readonly Lock _lock = new();
    private readonly HashSet<Guid> _active = [];
    private readonly HashSet<Guid> _finished = [];
    private readonly Queue<Guid> _finishedOrder = new();

    /// <summary>True the first time an id is seen (the task should run); false for a repeat.</summary>
    public bool TryTake(Guid taskId)
    {
        lock (_lock)
        {
            return !_finished.Contains(taskId) && _active.Add(taskId);
        }
    }

    public bool IsActive(Guid taskId)
    {
        lock (_lock)
        {
            return _active.Contains(taskId);
        }
    }

    /// <summary>The task is over on this agent: later deliveries of it are repeats.</summary>
    public void Finish(Guid taskId)
    {
        lock (_lock)
        {
            _active.Remove(taskId);
            if (_finished.Add(taskId))
            {
                _finishedOrder.Enqueue(taskId);
                while (_finishedOrder.Count > capacity)
                {
                    _finished.Remove(_finishedOrder.Dequeue());
                }
            }
        }
    }

    public int ActiveCount
    {
        get
        {
            lock (_lock)
            {
                return _active.Count;
            }
        }
    }
}
