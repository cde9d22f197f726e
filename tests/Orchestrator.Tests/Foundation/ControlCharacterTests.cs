using System.Buffers.Text;
using System.Net;
using System.Text;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Streams;
using Orchestrator.Tests.Tasks;

namespace Orchestrator.Tests.Foundation;

/// <summary>One rule for text in requests, on both stores: control characters other than tab, line feed and carriage
/// return are refused with a 400 naming the field (PostgreSQL cannot store NUL at all, and answered 500 with an empty
/// body); output an agent relays (log lines, progress messages) is kept, with NUL replaced by U+FFFD.</summary>
public sealed class ControlCharacterTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableTheory, BothProviders]
    public async Task Text_with_a_control_character_is_a_400_naming_the_field_everywhere(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var admin = app.AdminClient();
        var name = SharedApps.Unique("nul-agent");
        var agent = await app.RegisterAgentAsync();
        var token = await app.CreateRegistrationTokenAsync();
        var nulCursor = Base64Url.EncodeToString(Encoding.UTF8.GetBytes("a\0"));

        var refused = new (string Field, Func<Task<HttpResponseMessage>> Send)[]
        {
            ("label", () => admin.GetAsync("/api/v1/agents?label=zone%3Deu%00")),
            ("capability", () => admin.GetAsync("/api/v1/agents?capability=docker%1b")),
            ("after", () => admin.GetAsync($"/api/v1/agents?after={nulCursor}")),
            ("after", () => admin.GetAsync($"/api/v1/targets?after={nulCursor}")),
            ("type", () => admin.GetAsync("/api/v1/targets?type=ssh%00")),
            ("action", () => admin.GetAsync("/api/v1/audit?action=apikey.created%00")),
            ("subjectId", () => admin.GetAsync("/api/v1/audit?subjectId=x%00")),
            ("description", () => admin.PostRaw("/api/v1/registration-tokens", """{"description":"for\u0000ci"}""")),
            ("name", () => admin.PostRaw("/api/v1/api-keys", """{"name":"nulkey\u0000","role":"viewer"}""")),
            ("name", () => admin.PostRaw("/api/v1/api-keys", """{"name":"nulkey\u001b[31m","role":"viewer"}""")),
            ("name", () => admin.PostRaw("/api/v1/targets", $$"""{"name":"web\u0000","type":"ssh","agentId":"{{agent.Id}}"}""")),
            ("type", () => admin.PostRaw("/api/v1/targets", $$"""{"name":"web","type":"ssh\u0000","agentId":"{{agent.Id}}"}""")),
            ("reason", () => admin.PostRaw($"/api/v1/agents/{agent.Id}/drain", """{"reason":"patch\u0000day"}""")),
            ("selector", () => admin.PostRaw("/api/v1/tasks", """{"taskType":"agent.noop","selector":{"labels":{"zone":"eu\u0000"}}}""")),
            ("selector", () => admin.PostRaw("/api/v1/tasks", """{"taskType":"agent.noop","selector":{"capabilities":["dock\u0000er"]}}""")),
            ("credentials", () => admin.PostRaw("/api/v1/tasks", $$$"""{"taskType":"agent.noop","agentId":"{{{agent.Id}}}","credentials":{"pass\u0000word":"x"}}""")),
            ("labels", () => admin.PutAsync($"/api/v1/agents/{agent.Id}", Json("""{"labels":{"zo\u0000ne":"eu"}}"""))),
            ("version", () => app.Client().PostAsync("/api/v1/agents/register", WithToken($$"""{"name":"{{name}}","version":"1.0\u0000"}""", token))),
        };

        foreach (var (field, send) in refused)
        {
            var response = await send();
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{field}: expected 400, got {(int)response.StatusCode}: {body}");
            var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest);
            Assert.Contains(field, problem.GetRawText());
            // A cursor is opaque: one holding a control character is simply not one this service issued.
            Assert.True(problem.GetRawText().Contains(field == "after" ? "not a cursor" : "control character", StringComparison.Ordinal), $"{field}: {problem}");
        }

        // Nothing was half-written, and the registration token kept its use.
        var keys = await (await admin.GetAsync("/api/v1/api-keys?limit=1000")).ShouldBe(HttpStatusCode.OK);
        Assert.DoesNotContain(keys.EnumerateArray(), k => k.GetProperty("name").GetString()!.StartsWith("nulkey", StringComparison.Ordinal));
        await (await app.Client().PostAsync("/api/v1/agents/register", WithToken($$"""{"name":"{{name}}","version":"1.0"}""", token))).ShouldBe(HttpStatusCode.Created);
        // Line breaks and tabs are text, not control: a multi-line description is fine.
        await (await admin.PostRaw("/api/v1/registration-tokens", """{"description":"line one\nline\ttwo"}""")).ShouldBe(HttpStatusCode.Created);
    }

    [SkippableTheory, BothProviders]
    public async Task Output_an_agent_relays_is_stored_with_nul_replaced_and_the_task_completes(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        var streamed = (await app.CreateTaskAsync(new { taskType = "agent.noop", agentId = agent.Id })).GetProperty("taskId").GetGuid();
        var completed = (await app.CreateTaskAsync(new { taskType = "agent.noop", agentId = agent.Id })).GetProperty("taskId").GetGuid();
        await using var stream = await StreamClient.ConnectAsync(app, agent);

        await stream.SendTextAsync($$"""{"type":"task_progress","taskId":"{{streamed}}","progress":10,"message":"half\u0000way"}""");
        await stream.SendTextAsync($$"""{"type":"task_log","taskId":"{{streamed}}","level":"info","message":"bin\u0000ary \u001b[32mgreen"}""");
        var answer = await agent.Client.PostRaw($"/api/v1/agents/{agent.Id}/tasks/{completed}/complete",
            """{"success":true,"result":{"out":"a\u0000b"},"logs":[{"level":"info","message":"core\u0000dump"}]}""");

        await answer.ShouldBe(HttpStatusCode.OK);
        var done = await app.GetTaskAsync(completed);
        Assert.Equal("succeeded", done.GetProperty("status").GetString());
        Assert.Equal("core\uFFFDdump", done.GetProperty("logs")[0].GetProperty("message").GetString());
        Assert.Equal("a\0b", done.GetProperty("result").GetProperty("out").GetString());
        await Poll.Until(async () => (await app.GetTaskAsync(streamed)).GetProperty("logs").GetArrayLength() == 1, "the streamed line to be stored");
        var running = await app.GetTaskAsync(streamed);
        Assert.Equal("bin\uFFFDary \u001b[32mgreen", running.GetProperty("logs")[0].GetProperty("message").GetString());
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static StringContent WithToken(string json, string token)
    {
        var content = Json(json);
        content.Headers.Add("X-Agent-Token", token);
        return content;
    }
}
