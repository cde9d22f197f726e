using System.Net;
using Microsoft.Extensions.Logging;
using Orchestrator.Agent.Workers;
using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Agent.Listener;

/// <summary>While the task stream is down, asks for waiting tasks every poll interval (with a little jitter) and fetches
/// the new ones: a fetch is the delivery. Heartbeats deliver too; this is quicker when the poll interval is shorter.
/// A refused credential asks for a heartbeat (<paramref name="askForHeartbeat"/>), which finds out why.</summary>
public sealed partial class TaskPoller(
    AgentClient client, TaskDispatcher dispatcher, TaskLedger ledger, Func<bool> streamIsUp, Func<TimeSpan> interval, int maxTasks,
    Action askForHeartbeat, TimeProvider time, ILogger logger)
{
    public async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            await Task.Delay(interval() * (0.9 + (Random.Shared.NextDouble() * 0.2)), time, stopping);
            if (streamIsUp())
            {
                continue;
            }

            try
            {
                await PollOnceAsync(stopping);
            }
            catch (OrchestratorApiException ex) when (ex.Status == HttpStatusCode.Unauthorized)
            {
                askForHeartbeat();
            }
            catch (Exception ex) when (ex is OrchestratorApiException or HttpRequestException or IOException or TaskCanceledException &&
                                       !stopping.IsCancellationRequested)
            {
                LogPollFailed(logger, ex.Message);
            }
        }
    }

    private async Task PollOnceAsync(CancellationToken stopping)
    {
        var pending = await client.GetPendingTasksAsync(stopping);
        foreach (var taskId in pending.CancelledTasks)
        {
            dispatcher.Cancel(taskId, "The task was cancelled.");
        }

        // Twice what can run at once: enough to keep every slot busy, without fetching (delivering) a backlog this
        // agent cannot start soon.
        foreach (var summary in pending.Tasks.Where(t => !ledger.IsActive(t.TaskId)).Take(maxTasks * 2))
        {
            var task = await client.FetchTaskAsync(summary.TaskId, stopping);
            if (!task.Status.IsFinal())
            {
                dispatcher.Offer(new DeliveredTask(task.TaskId, task.TaskType, task.Payload, task.Credentials, task.Timeout)
                {
                    TraceParent = task.TraceParent,
                });
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Poll failed: {Reason}")]
    private static partial void LogPollFailed(ILogger logger, string reason);
}
