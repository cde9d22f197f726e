using System.CommandLine;
using Orchestrator.Contracts;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator tasks create|get|ls|cancel|wait|logs</c>.</summary>
public static class TaskCommands
{
    public static Command Build(CommandFactory commands)
    {
        var type = new Option<string>("--type", "--task-type") { Description = "The task type, e.g. docker.pull.", Required = true };
        var payload = new Option<string>("--payload") { Description = "The payload: a JSON object, @FILE, or @- for standard input." };
        var credential = new Option<string[]>("--credential")
        {
            Description = "A secret for the agent, NAME=VALUE or NAME=@FILE (repeatable). Prefer @FILE for secrets: a value on the command line shows in process lists.",
        };
        var agent = new Option<string>("--agent") { Description = "The agent to run it (give --agent or --selector)." };
        var selector = CommandFactory.Selector("may run it");
        var priority = new Option<int?>("--priority") { Description = "0-100, higher first (default 0)." };
        var timeout = new Option<int?>("--timeout") { Description = "Seconds the agent has from delivery (default 300)." };
        var idempotencyKey = new Option<string>("--idempotency-key") { Description = "Repeating the command with the same key returns the first task instead of creating another." };
        var wait = new Option<bool>("--wait") { Description = "Wait for the task to end and exit with its outcome (0 succeeded, 1 failed, cancelled or timed out, 124 wait ran out)." };
        var waitTimeout = CommandFactory.Duration("--wait-timeout", "Give up waiting after this long (seconds, or 90s, 15m, 2h; default: until the task ends).");
        var follow = new Option<bool>("--follow", "-f") { Description = "Print status changes, progress and log lines as they happen (implies --wait)." };

        var id = CommandFactory.IdArgument("task");
        var waitForTimeout = CommandFactory.Duration("--timeout", "Give up waiting after this long (seconds, or 90s, 15m, 2h; default: until the task ends).");
        var waitFollow = new Option<bool>("--follow", "-f") { Description = "Print status changes, progress and log lines while waiting." };
        var listAgent = new Option<string>("--agent") { Description = "Only this agent's tasks." };
        var listStatus = CommandFactory.WireEnum<AgentTaskStatus>("--status", "Only tasks in this state.");
        var limit = CommandFactory.Limit("100");
        var logsFollow = new Option<bool>("--follow", "-f") { Description = "Keep printing new lines until the task ends." };

        return CommandFactory.Group("tasks", "Create tasks, wait for them, follow them, cancel them.",
            commands.Command("create", "Create a task for an agent; with --wait, wait for it and exit with its outcome.", async run =>
            {
                var agentText = run.Value(agent);
                var selectors = run.Value(selector) ?? [];
                if (agentText is null == (selectors.Length == 0))
                {
                    throw new UsageException("Give exactly one of --agent ID or --selector KEY=VALUE.");
                }

                var following = run.Value(follow);
                var waiting = run.Value(wait) || following;
                var waitFor = run.Value(waitTimeout);
                if (waitFor is not null && !waiting)
                {
                    throw new UsageException("--wait-timeout needs --wait.");
                }

                var request = new CreateTaskRequest(run.Value(type), Arguments.JsonObject(run.Value(payload), "--payload", run.Environment),
                    Arguments.Credentials(run.Value(credential), run.Environment), run.Value(priority), run.Value(timeout),
                    Arguments.OptionalId(agentText, "an agent"), selectors.Length == 0 ? null : Arguments.Selector(selectors), run.Value(idempotencyKey));
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var created = await client.Tasks.CreateAsync(request, run.Cancellation);
                if (!waiting)
                {
                    var names = await run.AgentNamesAsync(client, [created.AgentId]);
                    run.Show(() => Tasks(run, names, created));
                    return ExitCodes.Ok;
                }

                return await TaskWait.RunAsync(run, client, created, waitFor, following);
            }, type, payload, credential, agent, selector, priority, timeout, idempotencyKey, wait, waitTimeout, follow),

            commands.Command("get", "Show a task.", async run =>
            {
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var task = await client.Tasks.GetAsync(Arguments.Id(run.Value(id), "a task"), cancellationToken: run.Cancellation);
                var names = await run.AgentNamesAsync(client, [task.AgentId]);
                run.Show(() => Tasks(run, names, task));
                return ExitCodes.Ok;
            }, id),

            commands.Command("ls", "List tasks, newest first.", async run =>
            {
                var agentId = Arguments.OptionalId(run.Value(listAgent), "an agent");
                var status = run.Value(listStatus);
                var max = run.Value(limit) ?? 100;
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var tasks = await client.Tasks.ListAllAsync(agentId, status, run.Cancellation).Take(max).ToListAsync(run.Cancellation);
                var names = await run.AgentNamesAsync(client, tasks.Select(t => t.AgentId));
                run.ShowList(() => Tasks(run, names, [.. tasks]), max);
                return ExitCodes.Ok;
            }, listAgent, listStatus, limit),

            commands.Command("cancel", "Cancel a task: a pending one ends at once, a running one when its agent has stopped it.", async run =>
            {
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var task = await client.Tasks.CancelAsync(Arguments.Id(run.Value(id), "a task"), run.Cancellation);
                var names = await run.AgentNamesAsync(client, [task.AgentId]);
                run.Show(() => Tasks(run, names, task));
                return ExitCodes.Ok;
            }, id),

            commands.Command("wait", "Wait for a task to end; exit 0 if it succeeded, 1 if it failed, was cancelled or timed out, 124 if the wait ran out.", async run =>
            {
                var taskId = Arguments.Id(run.Value(id), "a task");
                var waitFor = run.Value(waitForTimeout);
                var client = await run.ClientAsync();
                return await TaskWait.RunAsync(run, client, await client.Tasks.GetAsync(taskId, cancellationToken: run.Cancellation), waitFor,
                    run.Value(waitFollow));
            }, id, waitForTimeout, waitFollow),

            commands.Command("logs", "Print a task's log lines; with --follow, keep printing until it ends.", async run =>
            {
                var taskId = Arguments.Id(run.Value(id), "a task");
                var client = await run.ClientAsync();
                if (!run.Value(logsFollow))
                {
                    run.Answers.Clear();
                    var task = await client.Tasks.GetAsync(taskId, cancellationToken: run.Cancellation);
                    if (run.Format == OutputFormat.Json)
                    {
                        Output.WriteJson(run.Out, run.Answers.Answers[^1]);
                        return ExitCodes.Ok;
                    }

                    foreach (var line in task.Logs ?? [])
                    {
                        await run.Out.WriteLineAsync(TaskWait.Line(line));
                    }

                    return ExitCodes.Ok;
                }

                await foreach (var item in client.Tasks.FollowAsync(taskId, cancellationToken: run.Cancellation))
                {
                    if (item.Log is { } line)
                    {
                        // With -o json, one JSON object per line (the event's data), for jq.
                        await run.Out.WriteLineAsync(run.Format == OutputFormat.Json
                            ? System.Text.Json.JsonSerializer.Serialize(line, OrchestratorJsonContext.Default.TaskLogResponse)
                            : TaskWait.Line(line));
                    }
                }

                return ExitCodes.Ok;
            }, id, logsFollow));
    }

    /// <summary>Tasks as a table: AGENT is the agent's name where <paramref name="agentNames"/> has it (its id otherwise);
    /// <c>-o wide</c> adds the agent's id.</summary>
    public static Table Tasks(Invocation run, IReadOnlyDictionary<Guid, string> agentNames, params TaskResponse[] tasks)
    {
        var table = run.Wide
            ? new Table("ID", "TYPE", "AGENT", "STATUS", "PROGRESS", "AGE", "PRIORITY", "TIMEOUT", "STARTED", "COMPLETED", "AGENT ID", "REASON")
            : new Table("ID", "TYPE", "AGENT", "STATUS", "PROGRESS", "AGE");
        foreach (var task in tasks)
        {
            string?[] cells = [task.TaskId.ToString(), task.TaskType, agentNames.GetValueOrDefault(task.AgentId) ?? task.AgentId.ToString(),
                WireNames.Of(task.Status), task.Progress is { } p ? $"{p}%" : null, Output.Age(task.CreatedAt, run.Now)];
            table.Add(run.Wide
                ? [.. cells, task.Priority.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{task.Timeout}s", Output.Time(task.StartedAt),
                    Output.Time(task.CompletedAt), task.AgentId.ToString(), task.StatusReason]
                : cells);
        }

        return table;
    }
}
