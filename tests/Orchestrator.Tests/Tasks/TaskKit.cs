using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Data;
using Orchestrator.Tasks;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Tasks;

/// <summary>Tasks created through the API, and the agent side of tasks called through the services.</summary>
internal static class TaskKit
{
    public static FakeTimeProvider Clock() => new(new DateTimeOffset(2026, 1, 10, 14, 0, 0, TimeSpan.Zero));

    public static async Task<T> WithAsync<T>(this TestApp app, Func<IServiceProvider, Task<T>> work)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await work(scope.ServiceProvider);
    }

    public static Task<AgentWork> TakeAsync(this TestApp app, Guid agentId) =>
        app.WithAsync(sp => sp.GetRequiredService<TaskDelivery>().TakeForAgentAsync(agentId, trustIdleHint: true, resendUnstarted: false, "heartbeat", CancellationToken.None));

    /// <summary>Takes for the agent until a take hands something out (an event or a sweep the test waits for reaches the
    /// service in the background), and returns the ids of the tasks handed out.</summary>
    public static async Task<List<Guid>> TakeUntilDeliveredAsync(this TestApp app, Guid agentId, string what)
    {
        var delivered = new List<Guid>();
        await Poll.Until(async () =>
        {
            delivered.AddRange((await app.TakeAsync(agentId)).Tasks.Select(t => t.TaskId));
            return delivered.Count > 0;
        }, what);
        return delivered;
    }

    /// <summary>Puts a delivered task back to pending behind the service's back: a task whose event never went out (a
    /// replica that ended between commit and publish, or one published while a replica was not listening).</summary>
    public static Task PutBackUnannouncedAsync(this TestApp app, Guid taskId) =>
        app.WithAsync(async sp => await sp.GetRequiredService<OrchestratorDbContext>().Tasks.Where(t => t.Id == taskId)
            .ExecuteUpdateAsync(u => u.SetProperty(t => t.Status, AgentTaskStatus.Pending).SetProperty(t => t.LastDeliveredAt, (DateTime?)null)));

    public static Task<TaskResult> CompleteAsync(this TestApp app, Guid agentId, Guid taskId, bool success,
        object? result = null, params TaskLogEntry[] logs) =>
        app.WithAsync(sp => sp.GetRequiredService<TaskCommands>().CompleteAsync(agentId, taskId, success,
            result is null ? null : JsonSerializer.SerializeToElement(result), logs, null, CancellationToken.None));

    public static Task<TaskResult> ProgressAsync(this TestApp app, Guid agentId, Guid taskId, int progress, string? message = null) =>
        app.WithAsync(sp => sp.GetRequiredService<TaskCommands>().RecordProgressAsync(agentId, taskId, progress, message, CancellationToken.None));

    public static Task RunMonitorAsync(this TestApp app) =>
        app.Services.GetRequiredService<TaskMonitor>().RunOnceAsync(CancellationToken.None);

    public static async Task<JsonElement> CreateTaskAsync(this TestApp app, object body) =>
        await (await app.AdminClient().PostJson("/api/v1/tasks", body)).ShouldBe(HttpStatusCode.Created);

    public static async Task<Guid> CreateTaskForAsync(this TestApp app, Guid agentId, string taskType = "docker.pull",
        int priority = 0, int? timeout = null, object? credentials = null) =>
        (await app.CreateTaskAsync(new { taskType, agentId, priority, timeout, payload = new { image = "myapp" }, credentials }))
            .GetProperty("taskId").GetGuid();

    /// <summary>A pending <c>agent.noop</c> task written straight into storage: no creation event tells any stream, and
    /// a payload the API would refuse (one an earlier version stored) can be given.</summary>
    public static Task<Guid> InsertTaskAsync(this TestApp app, Guid agentId, string payloadJson = "{}") =>
        app.WithAsync(async sp =>
        {
            var db = sp.GetRequiredService<OrchestratorDbContext>();
            var task = new AgentTask
            {
                Id = Guid.CreateVersion7(),
                TaskType = "agent.noop",
                AgentId = agentId,
                Status = AgentTaskStatus.Pending,
                Priority = 100,
                TimeoutSeconds = 300,
                PayloadJson = payloadJson,
                CreatedBy = "apikey:test-storage",
                CreatedAt = sp.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime,
            };
            db.Tasks.Add(task);
            await db.SaveChangesAsync();
            return task.Id;
        });

    public static async Task<JsonElement> GetTaskAsync(this TestApp app, Guid taskId) =>
        await (await app.AdminClient().GetAsync($"/api/v1/tasks/{taskId}")).ShouldBe(HttpStatusCode.OK);

    public static async Task<string> StatusOfAsync(this TestApp app, Guid taskId) =>
        (await app.GetTaskAsync(taskId)).GetProperty("status").GetString()!;

    public static async Task<string> ApiKeyAsync(this TestApp app, string role) =>
        (await (await app.AdminClient().PostJson("/api/v1/api-keys", new { name = $"{role}-{Guid.NewGuid():N}", role }))
            .ShouldBe(HttpStatusCode.Created)).GetProperty("key").GetString()!;
}
