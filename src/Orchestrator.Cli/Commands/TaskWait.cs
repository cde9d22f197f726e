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
            using var display = run.Environment.OutputIsTerminal && run.Format != OutputFormat.Json ? new WaitDisplay(run.Error, task) : null;
            run.Answers.Clear();
            final = await client.Tasks.WaitAsync(task.TaskId, timeout, t => display?.Update(t), run.Cancellation);
        }

        run.Show(() => TaskCommands.Tasks(run, final));
        return await OutcomeAsync(run, final, timeout);
    }

    private static async Task FollowAsync(Invocation run, OrchestratorClient client, TaskResponse task, TimeSpan? timeout)
    {
        // The events are the task's output; with -o json, stdout carries only the final task, so they go to stderr.
        var events = run.Format == OutputFormat.Json ? run.Error : run.Out;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(run.Cancellation);
        if (timeout is { } t)
        {
            limit.CancelAfter(t);
        }

        await events.WriteLineAsync($"--- task {task.TaskId} ({Output.OneLine(task.TaskType)}) on agent {task.AgentId}");
        try
        {
            await foreach (var item in client.Tasks.FollowAsync(task.TaskId, cancellationToken: limit.Token))
            {
                var text = item switch
                {
                    { Log: { } line } => Line(line),
                    { Progress: { } progress } => $"--- {progress.Progress}%{(string.IsNullOrEmpty(progress.Message) ? "" : $" {Output.OneLine(progress.Message)}")}",
                    { Status: { } status } => $"--- {WireNames.Of(status.Status)}" +
                        (item.IsFinal && !string.IsNullOrEmpty(status.StatusReason) ? $": {Output.OneLine(status.StatusReason)}" : ""),
                    _ => null,
                };
                if (text is not null)
                {
                    await events.WriteLineAsync(text);
                    await events.FlushAsync(limit.Token);
                }
            }
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested && !run.Cancellation.IsCancellationRequested)
        {
            // The wait ran out; the caller reads the task as it is now.
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

    /// <summary>What the wait waits for, redrawn on one line of stderr each second, for a person at a terminal only.</summary>
    private sealed class WaitDisplay : IDisposable
    {
        private readonly TextWriter _writer;
        private readonly Timer _timer;
        private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
        private readonly Lock _lock = new();
        private TaskResponse _task;
        private int _width;

        public WaitDisplay(TextWriter writer, TaskResponse task)
        {
            _writer = writer;
            _task = task;
            _timer = new Timer(_ => Draw(), null, TimeSpan.Zero, TimeSpan.FromSeconds(1));
        }

        public void Update(TaskResponse task)
        {
            lock (_lock)
            {
                _task = task;
            }
        }

        private void Draw()
        {
            lock (_lock)
            {
                var progress = _task.Progress is { } p ? $", {p}%" : "";
                var text = $"Waiting for task {_task.TaskId} ({Output.OneLine(_task.TaskType)}): {WireNames.Of(_task.Status)}{progress}, " +
                    $"{Output.Duration(DateTimeOffset.UtcNow - _started)}";
                _writer.Write($"\r{text.PadRight(_width)}");
                _writer.Flush();
                _width = text.Length;
            }
        }

        public void Dispose()
        {
            using var stopped = new ManualResetEvent(false);
            _timer.Dispose(stopped);
            stopped.WaitOne();
            lock (_lock)
            {
                _writer.Write($"\r{new string(' ', _width)}\r");
                _writer.Flush();
            }
        }
    }
}
