using System.CommandLine;
using System.Globalization;
using Orchestrator.Contracts;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator rollouts create|get|list|pause|resume|cancel|wait</c>.</summary>
public static class RolloutCommands
{
    public static Command Build(CommandFactory commands)
    {
        var taskType = new Option<string>("--task-type") { Description = "The task type every agent runs, e.g. docker.run.", Required = true };
        var name = new Option<string>("--name") { Description = "A name for people (shown in lists)." };
        var payload = new Option<string>("--payload") { Description = "The tasks' payload: a JSON object, @FILE, or @- for standard input." };
        var credential = new Option<string[]>("--credential")
        {
            Description = "A secret for the agents, NAME=VALUE or NAME=@FILE (repeatable). Prefer @FILE: a value on the command line shows in " +
                "process lists.",
        };
        var selector = CommandFactory.Selector("run it");
        var agents = new Option<string[]>("--agent")
        {
            Description = "The agents to run it: --agent ID ID… or --agent ID repeated (give --agent or --selector).",
            AllowMultipleArgumentsPerToken = true,
        };
        var priority = new Option<int?>("--priority") { Description = "0-100, higher first (default 0)." };
        var timeout = new Option<int?>("--timeout") { Description = "Seconds each agent has from delivery (default 300)." };
        var batchSize = new Option<int?>("--batch-size") { Description = "Agents per batch (default 1)." };
        var batchPercent = new Option<int?>("--batch-percent") { Description = "Agents per batch as a percentage of all, 1-100, rounded up." };
        var maxFailures = new Option<int?>("--max-failures") { Description = "Failed agents tolerated; one more stops the rollout (default 0)." };
        var maxFailurePercent = new Option<int?>("--max-failure-percent") { Description = "Failures tolerated as a percentage of all agents." };
        var pause = new Option<int?>("--pause") { Description = "Seconds to wait after a batch has ended before the next starts (default 0)." };
        var canary = new Option<int?>("--canary") { Description = "Agents in a first batch after which the rollout pauses until resumed." };
        var idempotencyKey = new Option<string>("--idempotency-key")
        {
            Description = "Repeating the command with the same key returns the first rollout instead of creating another.",
        };
        var wait = new Option<bool>("--wait")
        {
            Description = "Wait for the rollout to end and exit with its outcome (0 succeeded, 1 failed or cancelled, 124 wait ran out).",
        };
        var waitTimeout = CommandFactory.Duration("--wait-timeout", "Give up waiting after this long (seconds, or 90s, 15m, 2h; default: until the rollout ends).");
        var follow = new Option<bool>("--follow", "-f") { Description = "Print batches and each agent's outcome as they happen (implies --wait)." };

        var id = CommandFactory.IdArgument("rollout");
        var waitFor = CommandFactory.Duration("--timeout", "Give up waiting after this long (seconds, or 90s, 15m, 2h).");
        var waitFollow = new Option<bool>("--follow", "-f") { Description = "Print batches and each agent's outcome while waiting." };
        var status = CommandFactory.WireEnum<RolloutStatus>("--status", "Only rollouts in this state.");
        var limit = CommandFactory.Limit("100");

        var list = commands.Command("list", "List rollouts, newest first.", async run =>
        {
            var wanted = run.Value(status);
            var max = run.Value(limit) ?? 100;
            var client = await run.ClientAsync();
            run.Answers.Clear();
            var rollouts = await Lists.TakeAsync(client.Rollouts.ListAllAsync(wanted, run.Cancellation), max, run.Cancellation);
            run.ShowList(() => Rollouts(run, [.. rollouts]), max);
            return ExitCodes.Ok;
        }, status, limit);
        list.Aliases.Add("ls");

        return CommandFactory.Group("rollouts", "Run one task on every agent of a set, batch by batch; watch, pause, resume, cancel.",
            commands.Command("create", "Create a rollout; with --wait, wait for it and exit with its outcome.", async run =>
            {
                var agentIds = run.Value(agents) ?? [];
                var selectors = run.Value(selector) ?? [];
                if (agentIds.Length > 0 == selectors.Length > 0)
                {
                    throw new UsageException("Give exactly one of --agent ID (repeatable) or --selector KEY=VALUE.");
                }

                if (run.Value(batchSize) is not null && run.Value(batchPercent) is not null)
                {
                    throw new UsageException("Give at most one of --batch-size or --batch-percent.");
                }

                if (run.Value(maxFailures) is not null && run.Value(maxFailurePercent) is not null)
                {
                    throw new UsageException("Give at most one of --max-failures or --max-failure-percent.");
                }

                var following = run.Value(follow);
                var waiting = run.Value(wait) || following;
                var waitLimit = run.Value(waitTimeout);
                if (waitLimit is not null && !waiting)
                {
                    throw new UsageException("--wait-timeout needs --wait.");
                }

                var request = new CreateRolloutRequest(run.Value(name), run.Value(taskType),
                    Arguments.JsonObject(run.Value(payload), "--payload", run.Environment),
                    Arguments.Credentials(run.Value(credential), run.Environment), run.Value(priority), run.Value(timeout),
                    selectors.Length > 0 ? Arguments.Selector(selectors) : null,
                    agentIds.Length > 0 ? [.. agentIds.Select(a => Arguments.Id(a, "an agent"))] : null,
                    new RolloutStrategy(run.Value(batchSize), run.Value(batchPercent), run.Value(maxFailures), run.Value(maxFailurePercent),
                        run.Value(pause), run.Value(canary)),
                    run.Value(idempotencyKey));
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var created = await client.Rollouts.CreateAsync(request, run.Cancellation);
                if (!waiting)
                {
                    run.Show(() => Rollouts(run, created));
                    return ExitCodes.Ok;
                }

                return await RolloutWait.RunAsync(run, client, created, waitLimit, following);
            }, taskType, name, payload, credential, selector, agents, priority, timeout, batchSize, batchPercent, maxFailures, maxFailurePercent,
                pause, canary, idempotencyKey, wait, waitTimeout, follow),

            commands.Command("get", "Show a rollout and its agents.", async run =>
            {
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var rollout = await client.Rollouts.GetAsync(Arguments.Id(run.Value(id), "a rollout"), cancellationToken: run.Cancellation);
                Show(run, rollout);
                return ExitCodes.Ok;
            }, id),

            list,
            Control(commands, "pause", "Pause a rollout: no batch starts until it is resumed; running tasks go on.", id,
                (client, rolloutId, ct) => client.Rollouts.PauseAsync(rolloutId, ct)),
            Control(commands, "resume", "Resume a paused rollout (also after its canary batch).", id,
                (client, rolloutId, ct) => client.Rollouts.ResumeAsync(rolloutId, ct)),
            Control(commands, "cancel", "Cancel a rollout: no batch starts any more and its running tasks are cancelled.", id,
                (client, rolloutId, ct) => client.Rollouts.CancelAsync(rolloutId, ct)),

            commands.Command("wait", "Wait for a rollout to end; exit 0 if it succeeded, 1 if it failed or was cancelled, 124 if the wait ran out.",
                async run =>
                {
                    var rolloutId = Arguments.Id(run.Value(id), "a rollout");
                    var limitTo = run.Value(waitFor);
                    var client = await run.ClientAsync();
                    return await RolloutWait.RunAsync(run, client, await client.Rollouts.GetAsync(rolloutId, cancellationToken: run.Cancellation),
                        limitTo, run.Value(waitFollow));
                }, id, waitFor, waitFollow));
    }

    private static Command Control(CommandFactory commands, string name, string description, Argument<string> id,
        Func<Client.OrchestratorClient, Guid, CancellationToken, Task<RolloutResponse>> action) =>
        commands.Command(name, description, async run =>
        {
            var client = await run.ClientAsync();
            run.Answers.Clear();
            var rollout = await action(client, Arguments.Id(run.Value(id), "a rollout"), run.Cancellation);
            run.Show(() => Rollouts(run, rollout));
            return ExitCodes.Ok;
        }, id);

    /// <summary>The rollout, then (as a table) its agents; or the API's JSON.</summary>
    public static void Show(Invocation run, RolloutResponse rollout)
    {
        run.Show(() => Rollouts(run, rollout));
        if (run.Format != OutputFormat.Json && rollout.Targets is { } targets)
        {
            run.Out.WriteLine();
            var table = new Table("AGENT", "NAME", "BATCH", "STATUS", "TASK", "REASON");
            foreach (var target in targets)
            {
                table.Add(target.AgentId.ToString(), target.AgentName, Number(target.Batch), WireNames.Of(target.Status), target.TaskId?.ToString(),
                    target.StatusReason);
            }

            table.Write(run.Out);
        }
    }

    public static Table Rollouts(Invocation run, params RolloutResponse[] rollouts)
    {
        var table = run.Wide
            ? new Table("ID", "NAME", "TYPE", "STATUS", "BATCH", "AGENTS", "SUCCEEDED", "FAILED", "SKIPPED", "AGE", "REASON")
            : new Table("ID", "NAME", "TYPE", "STATUS", "BATCH", "AGENTS", "SUCCEEDED", "FAILED", "AGE");
        foreach (var rollout in rollouts)
        {
            var counts = rollout.Counts;
            string?[] cells = [rollout.RolloutId.ToString(), rollout.Name, rollout.TaskType, WireNames.Of(rollout.Status),
                $"{rollout.CurrentBatch}/{rollout.BatchCount}", Number(counts.Total), Number(counts.Succeeded),
                Number(counts.Failed + counts.Cancelled)];
            table.Add(run.Wide
                ? [.. cells, Number(counts.Skipped), Output.Age(rollout.CreatedAt, run.Now), rollout.StatusReason]
                : [.. cells, Output.Age(rollout.CreatedAt, run.Now)]);
        }

        return table;
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);
}
