using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Cli.Commands;

/// <summary>Waits for a task (the server holds each request; <c>--follow</c> reads its event stream instead), prints
/// it as it ended, and turns its outcome into the exit code.</summary>
public static class TaskWait
{
    public static async Task<int> RunAsync(Invocation run, OrchestratorClient client, TaskResponse task, TimeSpan? timeout, bool follow)
    {
        TaskResponse final;
        if (follow)
        {
            await FollowAsync(run, client, task, timeout);
            run.Answers.Clear();
            final = await client.Tasks.WaitAsync(task.TaskId, TimeSpan.Zero, cancellationToken: run.Cancellation);
        }
        else
        {
            var current = task;
            using var display = WaitDisplay.For(run, elapsed =>
            {
                var progress = current.Progress is { } p ? $", {p}%" : "";
                return $"Waiting for task {current.TaskId} ({Output.OneLine(current.TaskType)}): {WireNames.Of(current.Status)}{progress}, " +
                    $"{Output.Duration(elapsed)}";
            });
            run.Answers.Clear();
            final = await client.Tasks.WaitAsync(task.TaskId, timeout, t => current = t, run.Cancellation);
        }

        var names = await run.AgentNamesAsync(client, [final.AgentId]);
        run.Show(() => TaskCommands.Tasks(run, names, final));
        return await OutcomeAsync(run, final, timeout);
    }

    private static Task FollowAsync(Invocation run, OrchestratorClient client, TaskResponse task, TimeSpan? timeout) =>
        PrintEventsAsync(run, $"--- task {task.TaskId} ({Output.OneLine(task.TaskType)}) on agent {task.AgentId}",
            token => client.Tasks.FollowAsync(task.TaskId, cancellationToken: token), item => item switch
            {
                { Log: { } line } => Line(line),
                { Waiting: { } waiting } => $"--- waiting: {Output.OneLine(waiting.Reason)}",
                { Progress: { } progress } =>
                    $"--- {progress.Progress}%{(string.IsNullOrEmpty(progress.Message) ? "" : $" {Output.OneLine(progress.Message)}")}",
                { Status: { } status } => $"--- {WireNames.Of(status.Status)}" +
                    (item.IsFinal && !string.IsNullOrEmpty(status.StatusReason) ? $": {Output.OneLine(status.StatusReason)}" : ""),
                _ => null,
            }, timeout);

    /// <summary>Prints a header, then a line for each event <paramref name="describe"/> has words for, until the stream ends
    /// or <paramref name="timeout"/> runs out (the caller then reads the thing as it is). The events are the command's
    /// output; with -o json, stdout carries only the thing as it ended, so they go to stderr.</summary>
    public static async Task PrintEventsAsync<T>(Invocation run, string header, Func<CancellationToken, IAsyncEnumerable<T>> follow,
        Func<T, string?> describe, TimeSpan? timeout)
    {
        var events = run.Format == OutputFormat.Json ? run.Error : run.Out;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(run.Cancellation);
        if (timeout is { } t)
        {
            limit.CancelAfter(t);
        }

        await events.WriteLineAsync(header);
        try
        {
            await foreach (var item in follow(limit.Token))
            {
                if (describe(item) is { } text)
                {
                    await events.WriteLineAsync(text);
                    await events.FlushAsync(limit.Token);
                }
            }
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested && !run.Cancellation.IsCancellationRequested)
        {
            // The wait ran out; the caller reads the thing as it is now.
        }
    }

    private static async Task<int> OutcomeAsync(Invocation run, TaskResponse task, TimeSpan? timeout)
    {
        var reason = string.IsNullOrEmpty(task.StatusReason) ? "" : $": {Output.OneLine(task.StatusReason)}";
        switch (task.Status)
        {
            case AgentTaskStatus.Succeeded:
                return ExitCodes.Ok;
            case AgentTaskStatus.Failed or AgentTaskStatus.Cancelled or AgentTaskStatus.TimedOut:
                await run.Error.WriteLineAsync($"task {task.TaskId} {WireNames.Of(task.Status)}{reason}");
                return ExitCodes.TaskFailed;
            default:
                await run.Error.WriteLineAsync($"task {task.TaskId} is still {WireNames.Of(task.Status)}: the wait ran out after " +
                    $"{Output.Duration(timeout ?? TimeSpan.Zero)}");
                return ExitCodes.WaitTimedOut;
        }
    }

    /// <summary>A log line as <c>2025-01-31T12:00:00Z info  message</c>.</summary>
    public static string Line(TaskLogResponse line) => $"{Output.Time(line.Timestamp)} {Output.OneLine(line.Level),-5} {Output.OneLine(line.Message)}";
}
