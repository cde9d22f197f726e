using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Agent.Executors;
using Orchestrator.Agent.Identity;
using Orchestrator.Agent.Workers;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.Unit;

/// <summary>The agent's worker side on a fake clock, without a server: how many tasks run at once, what a repeat or
/// early cancel does, and how a stop becomes a kill after the grace period and an ignored kill an abandoned task. Each
/// outcome is read where the agent keeps it until the server has it: the completion outbox on disk.</summary>
public sealed class TaskDispatcherTests : IDisposable
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 5, 8, 0, 0, TimeSpan.Zero));
    private readonly string _state = TempDirectories.New("orch-dispatcher-");
    private readonly ControlledExecutor _executor = new();
    private readonly TaskDispatcher _dispatcher;
    private readonly CompletionOutbox _outbox;

    public TaskDispatcherTests()
    {
        var client = new AgentClient(new OrchestratorClientOptions { Server = new Uri("https://127.0.0.1:9/") });
        _outbox = new CompletionOutbox(new StateDirectory(_state), client, _time, NullLogger.Instance);
        _dispatcher = new TaskDispatcher([_executor], _outbox, new LogShipper(() => null, _time, NullLogger.Instance), new TaskLedger(),
            maxTasks: 2, Grace, Path.Combine(_state, "work"), _time, NullLogger.Instance);
    }

    [Fact]
    public async Task No_more_than_max_tasks_run_at_once_and_the_next_starts_when_one_ends()
    {
        var tasks = Enumerable.Range(0, 3).Select(_ => NewTask("test.controlled")).ToList();

        tasks.ForEach(_dispatcher.Offer);
        await Poll.Until(() => _executor.Started.Count == 2, "two tasks to start");
        var third = _executor.Started.Keys.Contains(tasks[2].TaskId);
        _executor.Finish(tasks[0].TaskId, success: true);
        await Poll.Until(() => _executor.Started.ContainsKey(tasks[2].TaskId), "the third task to start");

        Assert.False(third, "The third task started while two ran.");
        Assert.True((await CompletionAsync(tasks[0].TaskId)).Success);
        Assert.Equal(2, _dispatcher.RunningCount);
    }

    [Fact]
    public async Task A_task_delivered_again_while_it_runs_runs_once()
    {
        var task = NewTask("test.controlled");

        _dispatcher.Offer(task);
        _dispatcher.Offer(task with { });
        await Poll.Until(() => _executor.Started.ContainsKey(task.TaskId), "the task to start");
        _executor.Finish(task.TaskId, success: true);
        await CompletionAsync(task.TaskId);
        _dispatcher.Offer(task);

        Assert.Equal(1, _executor.Runs(task.TaskId));
        Assert.Equal(0, _dispatcher.RunningCount);
    }

    [Fact]
    public async Task A_task_cancelled_before_it_arrives_is_reported_cancelled_without_running()
    {
        var task = NewTask("test.controlled");

        _dispatcher.Cancel(task.TaskId, "The task was cancelled.");
        _dispatcher.Offer(task);
        var completion = await CompletionAsync(task.TaskId);

        Assert.False(completion.Success);
        Assert.Contains("cancelled before it started", completion.Result!.Value.GetProperty("error").GetString());
        Assert.Equal(0, _executor.Runs(task.TaskId));
    }

    [Fact]
    public async Task A_stopped_task_that_ignores_the_stop_is_killed_after_the_grace_period()
    {
        var task = NewTask("test.controlled");
        _dispatcher.Offer(task);
        await Poll.Until(() => _executor.Started.ContainsKey(task.TaskId), "the task to start");

        _dispatcher.Cancel(task.TaskId, "The task was cancelled.");
        var context = _executor.Started[task.TaskId];
        await Poll.Until(() => context.Stopping.IsCancellationRequested, "the stop");
        _time.Advance(Grace - TimeSpan.FromSeconds(1));
        var killedEarly = context.Killing.IsCancellationRequested;
        _time.Advance(TimeSpan.FromSeconds(1));
        await Poll.Until(() => context.Killing.IsCancellationRequested, "the kill at the end of the grace period");
        var completion = await CompletionAsync(task.TaskId);

        Assert.False(killedEarly, "Killed before the grace period ended.");
        Assert.False(completion.Success);
        Assert.Equal("The task was cancelled.", completion.Result!.Value.GetProperty("error").GetString());
    }

    [Fact]
    public async Task An_executor_that_ignores_even_the_kill_is_abandoned_and_its_task_still_ends()
    {
        var task = NewTask("test.controlled") with { Timeout = 30 };
        _executor.IgnoreKill = true;
        _dispatcher.Offer(task);
        await Poll.Until(() => _executor.Started.ContainsKey(task.TaskId), "the task to start");

        _time.Advance(TimeSpan.FromSeconds(30)); // the timeout: stop
        await Poll.Until(() => _executor.Started[task.TaskId].Stopping.IsCancellationRequested, "the stop at the timeout");
        _time.Advance(Grace); // the kill, ignored
        await Poll.Until(() => _executor.Started[task.TaskId].Killing.IsCancellationRequested, "the kill");
        _time.Advance(TimeSpan.FromSeconds(5)); // abandoned
        var completion = await CompletionAsync(task.TaskId);

        Assert.False(completion.Success);
        Assert.Equal("The task timed out after 30 s.", completion.Result!.Value.GetProperty("error").GetString());
        Assert.Equal(0, _dispatcher.RunningCount);
    }

    [Fact]
    public async Task An_unknown_task_type_fails_with_the_types_this_agent_runs()
    {
        var task = NewTask("docker.runn");

        _dispatcher.Offer(task);
        var completion = await CompletionAsync(task.TaskId);

        Assert.False(completion.Success);
        Assert.Equal("Unknown task type 'docker.runn'; this agent runs test.controlled.", completion.Result!.Value.GetProperty("error").GetString());
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private static DeliveredTask NewTask(string type) => new(Guid.NewGuid(), type, null, null, Timeout: 300);

    /// <summary>The completion the dispatcher handed to the outbox, read back from the outbox's file.</summary>
    private async Task<CompleteTaskRequest> CompletionAsync(Guid taskId)
    {
        await Poll.Until(() => _outbox.PendingTaskIds.Contains(taskId), $"task {taskId}'s completion");
        var file = Path.Combine(new StateDirectory(_state).Subdirectory("outbox"), $"{taskId}.json");
        return JsonSerializer.Deserialize(await File.ReadAllBytesAsync(file), OrchestratorJsonContext.Default.CompleteTaskRequest)!;
    }

    /// <summary>An executor the test ends: each task runs until <see cref="Finish"/>, or until killed unless told to
    /// ignore the kill too.</summary>
    private sealed class ControlledExecutor : IExecutor
    {
        private readonly ConcurrentDictionary<Guid, TaskCompletionSource<bool>> _endings = new();
        private readonly ConcurrentDictionary<Guid, int> _runs = new();

        public string TaskType => "test.controlled";
        public ConcurrentDictionary<Guid, TaskContext> Started { get; } = new();
        public bool IgnoreKill { get; set; }

        public int Runs(Guid taskId) => _runs.GetValueOrDefault(taskId);

        public void Finish(Guid taskId, bool success) => _endings.GetOrAdd(taskId, _ => new()).TrySetResult(success);

        public async Task<ExecutionResult> ExecuteAsync(TaskContext context)
        {
            _runs.AddOrUpdate(context.TaskId, 1, (_, n) => n + 1);
            Started[context.TaskId] = context;
            var ending = _endings.GetOrAdd(context.TaskId, _ => new()).Task;
            var succeeded = IgnoreKill ? await ending : await ending.WaitAsync(context.Killing);
            return succeeded ? ExecutionResult.Succeeded() : ExecutionResult.Failed("failed");
        }
    }
}
