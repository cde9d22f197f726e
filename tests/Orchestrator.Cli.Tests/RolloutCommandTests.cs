using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Testing;

namespace Orchestrator.Cli.Tests;

/// <summary><c>orchestrator rollouts …</c> against the real service, with agents that hold task streams and complete
/// what they receive, as the reference agent does.</summary>
public sealed class RolloutCommandTests(CliFixture service) : IClassFixture<CliFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(true, ExitCodes.Ok, "succeeded")]
    [InlineData(false, ExitCodes.TaskFailed, "failed")]
    public async Task Create_and_wait_exits_with_the_rollouts_outcome(bool succeed, int exitCode, string status)
    {
        await using var fleet = await Fleet.StartAsync(service, 2, failing: succeed ? null : 0);

        var result = await service.RunAsync("rollouts", "create", "--task-type", "agent.noop", "--selector", $"fleet={fleet.Name}", "capability=docker",
            "--batch-size", "1", "--wait").WaitAsync(Bound);

        Assert.Equal(exitCode, result.ExitCode);
        Assert.StartsWith("ID ", result.Out, StringComparison.Ordinal);
        Assert.Contains($" {status} ", result.Out, StringComparison.Ordinal);
        Assert.Contains("AGENT ", result.Out, StringComparison.Ordinal);
        if (succeed)
        {
            Assert.Empty(result.Error);
        }
        else
        {
            Assert.Matches("^rollout [0-9a-f-]{36} failed: 1 of 2 targets failed", result.Error);
            Assert.Contains(" not_started ", result.Out, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Follow_prints_each_batch_and_agent_and_with_json_stdout_is_the_rollout_as_it_ended()
    {
        await using var fleet = await Fleet.StartAsync(service, 2);

        var result = await service.RunAsync("rollouts", "create", "--task-type", "agent.noop", "--agent", fleet.Ids[0], fleet.Ids[1],
            "--batch-percent", "50", "--follow", "-o", "json").WaitAsync(Bound);

        Assert.True(result.ExitCode == ExitCodes.Ok, result.Error);
        Assert.Equal("succeeded", result.Json.GetProperty("status").GetString());
        Assert.Equal(2, result.Json.GetProperty("counts").GetProperty("succeeded").GetInt32());
        Assert.Contains("--- batch 1 of 2 started (1 agents)", result.Error, StringComparison.Ordinal);
        Assert.Contains("--- batch 2 of 2 started (1 agents)", result.Error, StringComparison.Ordinal);
        Assert.Contains($"{fleet.Names[1]}: succeeded", result.Error, StringComparison.Ordinal);
        Assert.Contains("--- succeeded: Every batch ended", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wait_that_runs_out_exits_124_a_cancelled_one_1_and_pause_resume_cancel_get_and_list_act_on_the_rollout()
    {
        using var idle = await service.AgentAsync();
        var id = idle.Credentials!.AgentId.ToString();
        var created = await service.RunAsync("rollouts", "create", "--task-type", "agent.noop", "--agent", id, "-o", "json");
        var rolloutId = created.Ok().Json.GetProperty("rolloutId").GetString()!;

        var waited = await service.RunAsync("rollouts", "wait", rolloutId, "--timeout", "0");
        var paused = await service.RunAsync("rollouts", "pause", rolloutId, "-o", "json");
        var resumed = await service.RunAsync("rollouts", "resume", rolloutId, "-o", "json");
        var cancelled = await service.RunAsync("rollouts", "cancel", rolloutId, "-o", "json");
        var ended = await service.RunAsync("rollouts", "wait", rolloutId).WaitAsync(Bound);
        var shown = await service.RunAsync("rollouts", "get", rolloutId);
        var listed = await service.RunAsync("rollouts", "list", "--status", "cancelled", "-o", "json");
        var again = await service.RunAsync("rollouts", "cancel", rolloutId);

        Assert.Equal(ExitCodes.WaitTimedOut, waited.ExitCode);
        Assert.StartsWith($"rollout {rolloutId} is still ", waited.Error, StringComparison.Ordinal);
        Assert.Contains("batch ", waited.Error, StringComparison.Ordinal);
        Assert.Equal("paused", paused.Ok().Json.GetProperty("status").GetString());
        Assert.Equal("running", resumed.Ok().Json.GetProperty("status").GetString());
        // Its task is cancelled once the rollout is: then the rollout ends.
        Assert.Equal("cancelling", cancelled.Ok().Json.GetProperty("status").GetString());
        Assert.Equal(ExitCodes.TaskFailed, ended.ExitCode);
        Assert.StartsWith($"rollout {rolloutId} cancelled: Cancelled by ", ended.Error, StringComparison.Ordinal);
        Assert.Contains(" cancelled ", shown.Ok().Out, StringComparison.Ordinal);
        Assert.Contains(listed.Ok().Json.EnumerateArray(), r => r.GetProperty("rolloutId").GetString() == rolloutId);
        Assert.Equal(ExitCodes.Refused, again.ExitCode);
        Assert.StartsWith("error: 409 Conflict", again.Error, StringComparison.Ordinal);
        Assert.Empty(again.Out);
    }

    [Fact]
    public async Task At_a_terminal_the_wait_shows_the_batch_and_counts_as_agents_finish_and_erases_the_line_at_the_end()
    {
        using var first = await service.AgentAsync();
        using var second = await service.AgentAsync();
        var ids = new[] { first.Credentials!.AgentId, second.Credentials!.AgentId };
        using var operators = service.Operator();
        var created = await operators.Rollouts.CreateAsync(new CreateRolloutRequest(null, "agent.noop", null, null, null, null, null, [.. ids],
            new RolloutStrategy(2, null, null, null, null, null), null));
        var error = new LiveText();

        var run = service.RunAtTerminalAsync(error, "rollouts", "wait", created.RolloutId.ToString());
        var started = await TaskOfAsync(operators, created.RolloutId, ids[0]);
        await first.CompleteTaskAsync(started, new CompleteTaskRequest(true, null, null));
        await Poll.Until(() => error.ToString().Contains("running, batch 1 of 1: 1 succeeded, 1 pending", StringComparison.Ordinal),
            "the wait to show the first agent's success before the rollout ends");
        await second.CompleteTaskAsync(await TaskOfAsync(operators, created.RolloutId, ids[1]), new CompleteTaskRequest(true, null, null));
        var result = await run.WaitAsync(Bound);

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.DoesNotContain("batch 1 of 1", result.Out, StringComparison.Ordinal);
        Assert.EndsWith("\r", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Error[(result.Error.LastIndexOf('\r', result.Error.Length - 2) + 1)..].Trim());
    }

    [Theory]
    [InlineData("--agent", "00000000-0000-0000-0000-000000000001", "--selector", "fleet=x")]
    [InlineData("--batch-size", "1")]
    [InlineData("--selector", "fleet=x", "--batch-size", "1", "--batch-percent", "10")]
    [InlineData("--selector", "fleet=x", "--max-failures", "1", "--max-failure-percent", "10")]
    [InlineData("--agent", "not-a-uuid")]
    public async Task A_usage_mistake_exits_64(params string[] flags)
    {
        var result = await service.RunAsync(["rollouts", "create", "--task-type", "agent.noop", .. flags]);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.StartsWith("error: ", result.Error, StringComparison.Ordinal);
        Assert.Empty(result.Out);
    }

    [Fact]
    public async Task A_refused_rollout_exits_2_naming_the_field()
    {
        var result = await service.RunAsync("rollouts", "create", "--task-type", "agent.noop", "--selector", "fleet=x", "--batch-percent", "101");

        Assert.Equal(ExitCodes.Refused, result.ExitCode);
        Assert.Contains("strategy.batchPercent", result.Error, StringComparison.Ordinal);
        Assert.Empty(result.Out);
    }

    private static async Task<Guid> TaskOfAsync(OrchestratorClient operators, Guid rolloutId, Guid agentId)
    {
        Guid? taskId = null;
        await Poll.Until(async () =>
            (taskId = (await operators.Rollouts.GetAsync(rolloutId)).Targets!.Single(t => t.AgentId == agentId).TaskId) is not null,
            $"the task of agent {agentId}");
        return taskId!.Value;
    }

    /// <summary>Agents with a label of their own, each holding its task stream and completing every task it receives (the
    /// one at <c>failing</c>, in name order, with failure).</summary>
    private sealed class Fleet : IAsyncDisposable
    {
        private readonly List<AgentClient> _agents = [];
        private readonly List<Task> _responders = [];
        private readonly CancellationTokenSource _stop = new();

        public string Name { get; } = SharedApps.Unique("fleet");
        public List<string> Ids => [.. _agents.Select(a => a.Credentials!.AgentId.ToString())];
        public List<string> Names { get; } = [];

        public static async Task<Fleet> StartAsync(CliFixture service, int count, int? failing = null)
        {
            var fleet = new Fleet();
            using var operators = service.Operator();
            var registered = new List<(AgentClient Agent, string Name)>();
            for (var i = 0; i < count; i++)
            {
                var agent = await service.AgentAsync(labels: new() { ["fleet"] = fleet.Name });
                registered.Add((agent, (await operators.Agents.GetAsync(agent.Credentials!.AgentId)).Name));
            }

            // In name order, the order a rollout takes them in.
            foreach (var (agent, name) in registered.OrderBy(r => r.Name, StringComparer.Ordinal))
            {
                fleet._responders.Add(RespondAsync(agent, await agent.ConnectTaskStreamAsync(), success: fleet._agents.Count != failing,
                    fleet._stop.Token));
                fleet._agents.Add(agent);
                fleet.Names.Add(name);
            }

            return fleet;
        }

        private static async Task RespondAsync(AgentClient agent, TaskStream stream, bool success, CancellationToken stop)
        {
            await using (stream)
            {
                try
                {
                    while (await stream.ReceiveAsync(stop) is { } message)
                    {
                        if (message is TaskAssignedMessage assigned)
                        {
                            await agent.CompleteTaskAsync(assigned.Task.TaskId, new CompleteTaskRequest(success, null, null), stop);
                        }
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_responders);
            _agents.ForEach(a => a.Dispose());
            _stop.Dispose();
        }
    }
}
