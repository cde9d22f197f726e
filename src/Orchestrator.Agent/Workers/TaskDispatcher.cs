using System.Text.Json;
using Microsoft.Extensions.Logging;
using Orchestrator.Agent.Executors;
using Orchestrator.Contracts;

namespace Orchestrator.Agent.Workers;

/// <summary>The workers' side of the agent: takes delivered tasks (once each, whatever the channel), runs at most
/// <c>maxTasks</c> at a time in arrival order, stops them on cancel or timeout (gracefully, then forcibly after the grace
/// period), and hands every outcome to the <see cref="CompletionOutbox"/>.</summary>
public sealed partial class TaskDispatcher
{
    private readonly IReadOnlyDictionary<string, IExecutor> _executors;
    private readonly CompletionOutbox _outbox;
    private readonly LogShipper _shipper;
    private readonly TaskLedger _ledger;
    private readonly int _maxTasks;
    private readonly TimeSpan _grace;
    private readonly string _workRoot;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Queue<DeliveredTask> _waiting = new();
    private readonly Dictionary<Guid, TaskRun> _running = [];
    private readonly HashSet<Guid> _cancelledEarly = [];
    private bool _intakeOpen = true;

    public TaskDispatcher(IEnumerable<IExecutor> executors, CompletionOutbox outbox, LogShipper shipper, TaskLedger ledger, int maxTasks,
        TimeSpan grace, string workRoot, TimeProvider time, ILogger logger)
    {
        _executors = executors.ToDictionary(e => e.TaskType, StringComparer.Ordinal);
        _outbox = outbox;
        _shipper = shipper;
        _ledger = ledger;
        _maxTasks = maxTasks;
        _grace = grace;
        _workRoot = workRoot;
        _time = time;
        _logger = logger;
        foreach (var id in outbox.PendingTaskIds)
        {
            // Finished before a restart and not yet acknowledged: a redelivery of it is a repeat.
            _ledger.Finish(id);
        }
    }

    /// <summary>Tasks running now (the heartbeat's <c>runningTasks</c>).</summary>
    public int RunningCount
    {
        get
        {
            lock (_lock)
            {
                return _running.Count;
            }
        }
    }

    public IReadOnlyCollection<string> TaskTypes => [.. _executors.Keys];

    /// <summary>A delivered task, from the stream, a heartbeat or the poll. Repeats are ignored.</summary>
    public void Offer(DeliveredTask task)
    {
        lock (_lock)
        {
            if (!_intakeOpen || !_ledger.TryTake(task.TaskId))
            {
                return;
            }

            if (_cancelledEarly.Remove(task.TaskId))
            {
                // Cancelled before it reached us: report it stopped without running it.
                _outbox.Add(task.TaskId, Cancelled("The task was cancelled before it started."));
                _ledger.Finish(task.TaskId);
                return;
            }

            _waiting.Enqueue(task);
            LogReceived(_logger, task.TaskId, task.TaskType);
        }

        Pump();
    }

    /// <summary>The server asks the agent to stop a task (<c>task_cancelled</c>, or <c>cancelledTasks</c>).</summary>
    public void Cancel(Guid taskId, string reason)
    {
        TaskRun? run;
        lock (_lock)
        {
            if (_waiting.Any(t => t.TaskId == taskId))
            {
                var kept = _waiting.Where(t => t.TaskId != taskId).ToList();
                _waiting.Clear();
                kept.ForEach(_waiting.Enqueue);
                _outbox.Add(taskId, Cancelled(reason));
                _ledger.Finish(taskId);
                return;
            }

            if (!_running.TryGetValue(taskId, out run))
            {
                if (!_ledger.IsActive(taskId))
                {
                    // Not seen yet (the cancel overtook the task) or long finished: remember it for a moment.
                    if (_cancelledEarly.Count > 1000)
                    {
                        _cancelledEarly.Clear();
                    }

                    _cancelledEarly.Add(taskId);
                }

                return;
            }
        }

        run.RequestStop(reason);
    }

    /// <summary>Shutdown: no new tasks start; waiting ones are let go (the server delivers them again later).</summary>
    public void CloseIntake()
    {
        lock (_lock)
        {
            _intakeOpen = false;
            while (_waiting.TryDequeue(out var task))
            {
                _ledger.Finish(task.TaskId);
            }
        }
    }

    /// <summary>Waits for running tasks up to <paramref name="timeout"/>, then stops the rest (with the grace period) and
    /// waits for their completions to be recorded.</summary>
    public async Task DrainAsync(TimeSpan timeout, string reason)
    {
        CloseIntake();
        var all = Runs();
        var finished = Task.WhenAll(all.Select(r => r.Completion));
        if (await Task.WhenAny(finished, Task.Delay(timeout, _time)) != finished)
        {
            foreach (var run in Runs())
            {
                run.RequestStop(reason);
            }

            await Task.WhenAll(Runs().Select(r => r.Completion));
        }
    }

    /// <summary>Revoked: stop every task at once; nothing can be reported any more.</summary>
    public async Task AbortAsync(string reason)
    {
        CloseIntake();
        foreach (var run in Runs())
        {
            run.Kill(reason);
        }

        await Task.WhenAll(Runs().Select(r => r.Completion));
    }

    private List<TaskRun> Runs()
    {
        lock (_lock)
        {
            return [.. _running.Values];
        }
    }

    private void Pump()
    {
        lock (_lock)
        {
            while (_intakeOpen && _running.Count < _maxTasks && _waiting.TryDequeue(out var task))
            {
                var run = new TaskRun(task, this);
                _running[task.TaskId] = run;
                run.Start();
            }
        }
    }

    private void Finished(TaskRun run, CompleteTaskRequest completion, string? traceParent)
    {
        _shipper.Remove(run.Task.TaskId);
        _outbox.Add(run.Task.TaskId, completion, traceParent);
        lock (_lock)
        {
            _running.Remove(run.Task.TaskId);
            _ledger.Finish(run.Task.TaskId);
        }

        Pump();
    }

    private CompleteTaskRequest Cancelled(string reason) =>
        new(false, JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["error"] = reason }, AgentJson.Default.DictionaryStringString),
            [new TaskLogEntry(_time.GetUtcNow().UtcDateTime, "warn", reason)]);

    /// <summary>One task on its way through an executor.</summary>
    private sealed class TaskRun(DeliveredTask task, TaskDispatcher owner)
    {
        private readonly CancellationTokenSource _stopping = new();
        private readonly CancellationTokenSource _killing = new();
        private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private string? _stopReason;

        public DeliveredTask Task { get; } = task;
        public System.Threading.Tasks.Task Completion => _completion.Task;

        public void Start() => _ = System.Threading.Tasks.Task.Run(RunAsync);

        public void RequestStop(string reason)
        {
            if (Interlocked.CompareExchange(ref _stopReason, reason, null) is not null)
            {
                return;
            }

            try
            {
                _stopping.Cancel();
                var timer = owner._time.CreateTimer(_ => Kill(reason), null, owner._grace, Timeout.InfiniteTimeSpan);
                _killing.Token.Register(timer.Dispose);
            }
            catch (ObjectDisposedException)
            {
                // Finished meanwhile.
            }
        }

        public void Kill(string reason)
        {
            Interlocked.CompareExchange(ref _stopReason, reason, null);
            try
            {
                _stopping.Cancel();
                _killing.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Finished meanwhile.
            }
        }

        private async System.Threading.Tasks.Task RunAsync()
        {
            using var span = AgentTelemetry.Continue("task.execute", Task.TraceParent, System.Diagnostics.ActivityKind.Consumer);
            span?.SetTag("orchestrator.task.id", Task.TaskId).SetTag("orchestrator.task.type", Task.TaskType);
            var log = new TaskLog(Task.TaskId, Task.Credentials?.Values ?? [], written: owner._shipper.Wake, time: owner._time);
            owner._shipper.Add(log);
            using var timeout = owner._time.CreateTimer(_ => RequestStop($"The task timed out after {Task.Timeout} s."), null,
                TimeSpan.FromSeconds(Math.Max(1, Task.Timeout)), Timeout.InfiniteTimeSpan);
            var work = Path.Combine(owner._workRoot, Task.TaskId.ToString());
            CompleteTaskRequest completion;
            try
            {
                completion = await ExecuteAsync(log, work);
            }
            catch (Exception ex)
            {
                // A bug in an executor must not take the agent down, and the task still gets an outcome.
                LogExecutorFailed(owner._logger, ex, Task.TaskId);
                log.Error($"The agent failed running the task: {ex.Message}");
                completion = Complete(log, false, new Dictionary<string, string> { ["error"] = ex.Message });
            }
            finally
            {
                TryDelete(work);
            }

            span?.SetTag("orchestrator.task.success", completion.Success == true);
            if (completion.Success != true)
            {
                span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error);
            }

            owner.Finished(this, completion, span?.Id ?? Task.TraceParent);
            _completion.TrySetResult();
            _stopping.Dispose();
            _killing.Dispose();
        }

        private async Task<CompleteTaskRequest> ExecuteAsync(TaskLog log, string work)
        {
            if (!owner._executors.TryGetValue(Task.TaskType, out var executor))
            {
                var known = string.Join(", ", owner._executors.Keys.Order(StringComparer.Ordinal));
                var error = Task.TaskType == "shell.run"
                    ? "shell.run is not allowed on this agent: start it with --allow-shell to allow it."
                    : $"Unknown task type '{Task.TaskType}'; this agent runs {known}.";
                log.Error(error);
                return Complete(log, false, new Dictionary<string, string> { ["error"] = error });
            }

            Directory.CreateDirectory(work);
            LogStarted(owner._logger, Task.TaskId, Task.TaskType);
            // Tells the server the task runs (it stops counting it as undelivered work) before any output comes.
            owner._shipper.Progress(Task.TaskId, 0, "started");
            var context = new TaskContext
            {
                TaskId = Task.TaskId,
                TaskType = Task.TaskType,
                Payload = Task.Payload ?? JsonDocument.Parse("{}").RootElement,
                Credentials = Task.Credentials ?? new Dictionary<string, string>(),
                Log = log,
                Progress = (value, message) => owner._shipper.Progress(Task.TaskId, value, message is null ? null : log.Redact(message)),
                Stopping = _stopping.Token,
                Killing = _killing.Token,
                GracePeriod = owner._grace,
                WorkDirectory = work,
            };

            var execution = System.Threading.Tasks.Task.Run(() => executor.ExecuteAsync(context));
            // An executor that ignores the kill is abandoned a little later: the task still gets its outcome.
            var abandoned = new TaskCompletionSource();
            await using var registration = _killing.Token.Register(() =>
                owner._time.CreateTimer(_ => abandoned.TrySetResult(), null, TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan));
            await System.Threading.Tasks.Task.WhenAny(execution, abandoned.Task);

            if (_stopReason is { } reason)
            {
                log.Write("warn", reason);
                return Complete(log, false, new Dictionary<string, string> { ["error"] = reason });
            }

            try
            {
                var result = await execution;
                return Complete(log, result.Success, result.Result);
            }
            catch (TaskFailedException ex)
            {
                log.Error(ex.Message);
                return Complete(log, false, new Dictionary<string, string> { ["error"] = log.Redact(ex.Message) });
            }
        }

        /// <summary>The outcome with every line the server has not acknowledged, numbered, so that a line that also came
        /// on the stream is stored once: the completion need not wait for the stream.</summary>
        private static CompleteTaskRequest Complete(TaskLog log, bool success, object? result)
        {
            var unsent = log.TakeUnsent(500);
            return new(success, result is null ? null : JsonSerializer.SerializeToElement(result, result.GetType(), AgentJson.Reflection),
                unsent.Lines) { LogsSeq = unsent.FirstSeq };
        }

        private static void TryDelete(string directory)
        {
            try
            {
                if (Directory.Exists(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }
            }
            catch (IOException)
            {
                // A file still held open; the next start of the agent sweeps the work directory.
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} ({TaskType}) received")]
    private static partial void LogReceived(ILogger logger, Guid taskId, string taskType);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} ({TaskType}) started")]
    private static partial void LogStarted(ILogger logger, Guid taskId, string taskType);

    [LoggerMessage(Level = LogLevel.Error, Message = "Task {TaskId}: the executor failed")]
    private static partial void LogExecutorFailed(ILogger logger, Exception exception, Guid taskId);
}
