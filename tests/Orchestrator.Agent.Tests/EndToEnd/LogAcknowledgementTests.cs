using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Agent.Executors;
using Orchestrator.Agent.Identity;
using Orchestrator.Agent.Tests.Support;
using Orchestrator.Agent.Workers;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.EndToEnd;

/// <summary>The agent's workers (dispatcher, log shipper, outbox) on a fake clock against a real service over TLS: a line
/// sent on the stream is kept until the server acknowledges it, and the completion carries what is not acknowledged
/// instead of waiting for the stream. The clock only moves when the test moves it, so a completion that waited on it
/// would never come.</summary>
public sealed class LogAcknowledgementTests(SharedAgentApps apps) : IClassFixture<SharedAgentApps>, IDisposable
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly string _state = TempDirectories.New("orch-logack-");
    private readonly LastWordsExecutor _executor = new();

    [Fact]
    public async Task A_line_sent_just_before_the_completion_and_not_yet_acknowledged_goes_with_it_at_once_and_is_stored_once()
    {
        await using var agent = await StartAsync();
        var taskId = await agent.RunAsync(_executor);
        await agent.SentAndStoredAsync(taskId, _time);

        // The server has the line, but its acknowledgement was not read: the agent still holds the line.
        _executor.Finish();
        var completion = await agent.CompletionAsync(taskId);
        await agent.Outbox.FlushAsync(CancellationToken.None);

        Assert.Equal(0, completion.LogsSeq);
        Assert.Equal(["last words"], completion.Logs!.Select(l => l.Message));
        var task = await agent.World.Operators.Tasks.GetAsync(taskId);
        Assert.Equal(AgentTaskStatus.Succeeded, task.Status);
        Assert.Equal(["last words"], task.Logs!.Select(l => l.Message));
    }

    [Fact]
    public async Task An_acknowledged_line_is_not_sent_again_with_the_completion()
    {
        await using var agent = await StartAsync();
        var taskId = await agent.RunAsync(_executor);
        await agent.SentAndStoredAsync(taskId, _time);

        var ack = await agent.NextAckAsync();
        agent.Shipper.Acknowledged(ack.TaskId, ack.Seq);
        _executor.Finish();
        var completion = await agent.CompletionAsync(taskId);
        await agent.Outbox.FlushAsync(CancellationToken.None);

        Assert.Equal((taskId, 0L), (ack.TaskId, ack.Seq));
        Assert.Null(completion.LogsSeq);
        Assert.Empty(completion.Logs!);
        Assert.Equal(["last words"], (await agent.World.Operators.Tasks.GetAsync(taskId)).Logs!.Select(l => l.Message));
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private async Task<Workers> StartAsync()
    {
        var world = await apps.WorldFor(DatabaseProvider.Sqlite);
        var client = new AgentClient(new OrchestratorClientOptions { Server = world.App.BaseAddress, Trust = ServerTrust.FromFile(world.CaFile) });
        var key = CertificateRequests.NewKey();
        var name = $"logack-{Guid.NewGuid():N}"[..18];
        var token = (await File.ReadAllTextAsync(await world.TokenFileAsync())).Trim();
        var registered = await client.RegisterAsync(token,
            new RegisterRequest(name, "1.0.0", [], null, CertificateRequests.CreatePem(key, name)));
        client.UseCredentials(new AgentCredentials(registered.AgentId, CertificateRequests.WithKey(registered.Certificate.Cert, key), registered.Token));
        var stream = await client.ConnectTaskStreamAsync();
        var shipper = new LogShipper(() => stream, _time, NullLogger.Instance);
        var outbox = new CompletionOutbox(new StateDirectory(_state), client, _time, NullLogger.Instance);
        var dispatcher = new TaskDispatcher([_executor], outbox, shipper, new TaskLedger(), maxTasks: 1, TimeSpan.FromSeconds(10),
            Path.Combine(_state, "work"), _time, NullLogger.Instance);
        return new Workers(world, client, stream, shipper, outbox, dispatcher, registered.AgentId, _state);
    }

    private sealed class Workers(
        AgentWorld world, AgentClient client, TaskStream stream, LogShipper shipper, CompletionOutbox outbox, TaskDispatcher dispatcher,
        Guid agentId, string state) : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stopping = new();
        private Task? _shipping;
        private Task? _beating;

        public AgentWorld World => world;
        public LogShipper Shipper => shipper;
        public CompletionOutbox Outbox => outbox;

        /// <summary>Creates a task for this agent and hands it to the dispatcher (as the stream would) with the shipper running.
        /// The agent heartbeats on the real clock meanwhile, as a real one does, so a slow machine never sees it offline.</summary>
        public async Task<Guid> RunAsync(IExecutor executor)
        {
            await BeatAsync();
            _beating = HeartbeatsAsync(_stopping.Token);
            var created = await world.CreateTaskAsync(agentId, executor.TaskType);
            _shipping = shipper.RunAsync(_stopping.Token);
            dispatcher.Offer(new DeliveredTask(created.TaskId, executor.TaskType, null, null, 300));
            return created.TaskId;
        }

        /// <summary>Moves the clock past the batching delay until the line has gone out on the stream and the server shows it.</summary>
        public async Task SentAndStoredAsync(Guid taskId, FakeTimeProvider time) =>
            await Poll.Until(async () =>
            {
                time.Advance(LogShipper.BatchDelay);
                return (await world.Operators.Tasks.GetAsync(taskId)).Logs is { Count: > 0 };
            }, "the line to be stored from the stream");

        private Task BeatAsync(CancellationToken cancellationToken = default) =>
            client.HeartbeatAsync(new HeartbeatRequest("healthy", new HeartbeatResourceUsage(1, 1, 1), [], 0, null), cancellationToken);

        private async Task HeartbeatsAsync(CancellationToken stopping)
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            try
            {
                while (await timer.WaitForNextTickAsync(stopping))
                {
                    await BeatAsync(stopping);
                }
            }
            catch (OperationCanceledException)
            {
                // The test is over.
            }
        }

        public async Task<TaskLogAckMessage> NextAckAsync()
        {
            using var timeout = new CancellationTokenSource(Poll.DefaultTimeout);
            while (true)
            {
                if (await stream.ReceiveAsync(timeout.Token) is TaskLogAckMessage ack)
                {
                    return ack;
                }
            }
        }

        /// <summary>The completion the dispatcher handed to the outbox, read back from its file.</summary>
        public async Task<CompleteTaskRequest> CompletionAsync(Guid taskId)
        {
            await Poll.Until(() => outbox.PendingTaskIds.Contains(taskId), $"task {taskId}'s completion");
            var file = Path.Combine(new StateDirectory(state).Subdirectory("outbox"), $"{taskId}.json");
            return JsonSerializer.Deserialize(await File.ReadAllBytesAsync(file), OrchestratorJsonContext.Default.CompleteTaskRequest)!;
        }

        public async ValueTask DisposeAsync()
        {
            await _stopping.CancelAsync();
            foreach (var loop in new[] { _shipping, _beating }.OfType<Task>())
            {
                await loop;
            }

            await stream.CloseAsync();
            await stream.DisposeAsync();
            client.Dispose();
            _stopping.Dispose();
        }
    }

    /// <summary>Writes one line, then runs until <see cref="Finish"/>.</summary>
    private sealed class LastWordsExecutor : IExecutor
    {
        private readonly TaskCompletionSource _finish = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string TaskType => "agent.noop";

        public void Finish() => _finish.TrySetResult();

        public async Task<ExecutionResult> ExecuteAsync(TaskContext context)
        {
            context.Log.Info("last words");
            await _finish.Task;
            return ExecutionResult.Succeeded();
        }
    }
}
