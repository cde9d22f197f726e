using System.Net;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Tasks;

namespace Orchestrator.Tests.Streams;

/// <summary>Numbered log lines (<c>task_log</c>'s <c>seq</c>, the completion's <c>logsSeq</c>): acknowledged on the
/// stream, stored once however often they come, and lines without numbers stored as before.</summary>
public sealed class LogSequenceTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableTheory, BothProviders]
    public async Task A_numbered_line_is_acknowledged_and_a_repeat_is_acknowledged_without_being_stored_again(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);
        var taskId = await app.CreateTaskForAsync(agent.Id);
        await stream.ReceiveAsync("task_assigned");

        Assert.Equal(0, await SendLineAsync(stream, taskId, 0, "first"));
        Assert.Equal(1, await SendLineAsync(stream, taskId, 1, "second"));
        Assert.Equal(1, await SendLineAsync(stream, taskId, 0, "first"));
        Assert.Equal(1, await SendLineAsync(stream, taskId, 1, "second"));
        // A line after a hole (line 2 lost on the way) is not taken: the acknowledgement never covers a missing line.
        Assert.Equal(1, await SendLineAsync(stream, taskId, 3, "fourth"));
        Assert.Equal(2, await SendLineAsync(stream, taskId, 2, "third"));
        Assert.Equal(3, await SendLineAsync(stream, taskId, 3, "fourth"));

        Assert.Equal(["first", "second", "third", "fourth"], await MessagesAsync(app, taskId));
    }

    [SkippableTheory, BothProviders]
    public async Task A_line_sent_on_the_stream_and_again_with_the_completion_is_stored_once(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);
        var taskId = await app.CreateTaskForAsync(agent.Id);
        await stream.ReceiveAsync("task_assigned");
        Assert.Equal(0, await SendLineAsync(stream, taskId, 0, "pulling"));
        Assert.Equal(1, await SendLineAsync(stream, taskId, 1, "warn: slow registry"));

        // The agent had no acknowledgement of line 1 yet, so it goes again with the completion, with the line after it.
        var completion = new
        {
            success = true,
            result = new { digest = "sha256:1" },
            logsSeq = 1,
            logs = new[] { new { level = "info", message = "warn: slow registry" }, new { level = "info", message = "done" } },
        };
        var url = $"/api/v1/agents/{agent.Id}/tasks/{taskId}/complete";
        await (await agent.Client.PostJson(url, completion)).ShouldBe(HttpStatusCode.OK);
        // A repeated completion (its answer was lost) is acknowledged and stores nothing again.
        await (await agent.Client.PostJson(url, completion)).ShouldBe(HttpStatusCode.OK);
        // Line 2 arriving on the stream after the completion: the task has ended, nothing more is stored.
        await stream.SendAsync(new { type = "task_log", taskId, level = "info", message = "done", seq = 2 });
        Assert.Equal(taskId, (await stream.ReceiveAsync("error")).GetProperty("taskId").GetGuid());

        Assert.Equal(["pulling", "warn: slow registry", "done"], await MessagesAsync(app, taskId));
    }

    [SkippableTheory, BothProviders]
    public async Task Lines_without_numbers_are_stored_as_they_come_and_not_acknowledged(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);
        var taskId = await app.CreateTaskForAsync(agent.Id);
        await stream.ReceiveAsync("task_assigned");

        await stream.SendAsync(new { type = "task_log", taskId, level = "info", message = "same" });
        await stream.SendAsync(new { type = "task_log", taskId, level = "info", message = "same" });
        // The next answer on the stream is the error for this unknown task: the lines before it were answered with nothing.
        var unknown = Guid.NewGuid();
        await stream.SendAsync(new { type = "task_progress", taskId = unknown, progress = 1 });
        var next = await stream.ReceiveAsync();
        Assert.Equal("error", next.GetProperty("type").GetString());
        Assert.Equal(unknown, next.GetProperty("taskId").GetGuid());

        var completion = new { success = true, logs = new[] { new { level = "info", message = "same" } } };
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{taskId}/complete", completion)).ShouldBe(HttpStatusCode.OK);

        Assert.Equal(["same", "same", "same"], await MessagesAsync(app, taskId));
    }

    [SkippableTheory, BothProviders]
    public async Task Lines_dropped_by_the_cap_are_acknowledged_too(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider, settings: new Dictionary<string, string?> { ["Orchestrator:Tasks:MaxStoredLogLines"] = "2" });
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);
        var taskId = await app.CreateTaskForAsync(agent.Id);
        await stream.ReceiveAsync("task_assigned");

        for (var seq = 0; seq < 4; seq++)
        {
            // Acknowledged even when the task keeps no more lines, or the agent would send them for ever.
            Assert.Equal(seq, await SendLineAsync(stream, taskId, seq, $"line {seq}"));
        }

        var logs = await MessagesAsync(app, taskId);
        Assert.Equal(["line 0", "line 1"], logs.Take(2));
        Assert.Contains("2 more log lines were dropped", logs[2]);
    }

    [SkippableFact]
    public async Task A_seq_that_is_not_a_whole_number_from_zero_is_an_error()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        await using var stream = await StreamClient.ConnectAsync(app, agent);
        var taskId = await app.CreateTaskForAsync(agent.Id);
        await stream.ReceiveAsync("task_assigned");

        await stream.SendAsync(new { type = "task_log", taskId, level = "info", message = "x", seq = -1 });

        Assert.Contains("'seq'", (await stream.ReceiveAsync("error")).GetProperty("message").GetString());
        Assert.Empty(await MessagesAsync(app, taskId));
    }

    /// <summary>Sends one numbered line and returns the number the server acknowledges.</summary>
    private static async Task<long> SendLineAsync(StreamClient stream, Guid taskId, long seq, string message)
    {
        await stream.SendAsync(new { type = "task_log", taskId, level = "info", message, seq });
        var ack = await stream.ReceiveAsync();
        Assert.Equal("task_log_ack", ack.GetProperty("type").GetString());
        Assert.Equal(taskId, ack.GetProperty("taskId").GetGuid());
        return ack.GetProperty("seq").GetInt64();
    }

    private static async Task<List<string>> MessagesAsync(TestApp app, Guid taskId) =>
        [.. (await app.GetTaskAsync(taskId)).GetProperty("logs").EnumerateArray().Select(l => l.GetProperty("message").GetString()!)];
}
