using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
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

    public static async Task<JsonElement> GetTaskAsync(this TestApp app, Guid taskId) =>
        await (await app.AdminClient().GetAsync($"/api/v1/tasks/{taskId}")).ShouldBe(HttpStatusCode.OK);

    public static async Task<string> StatusOfAsync(this TestApp app, Guid taskId) =>
        (await app.GetTaskAsync(taskId)).GetProperty("status").GetString()!;

    public static async Task<string> ApiKeyAsync(this TestApp app, string role) =>
        (await (await app.AdminClient().PostJson("/api/v1/api-keys", new { name = $"{role}-{Guid.NewGuid():N}", role }))
            .ShouldBe(HttpStatusCode.Created)).GetProperty("key").GetString()!;
}
