using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Foundation;

/// <summary>Issue 23, item 2: what the service answers is what its document says. A scripted workflow touches every
/// operation (tokens, registration, heartbeats, tasks with waits and events, cancel, targets, drain, rollouts, audit,
/// keys) and its usual errors; every answer the service gave, recorded on the server side, must be documented for its
/// operation and status, with its content type, and its JSON body must validate against the document's schema (checked
/// with JsonSchema.Net, not with code of ours).</summary>
public sealed class OpenApiResponseTests
{
    [SkippableFact]
    public async Task Every_answer_of_a_full_workflow_is_documented_and_matches_its_schema()
    {
        var recorder = new ResponseRecorder();
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, services: s => s.AddSingleton<IStartupFilter>(recorder));
        await RunWorkflowAsync(app);
        var document = await (await app.Client().GetAsync("/swagger/v1/swagger.json")).ShouldBe(HttpStatusCode.OK);
        var validator = new DocumentValidator(document);

        var answers = recorder.Answers.Where(a => a.Route is not null && !a.Route.StartsWith("/swagger", StringComparison.Ordinal)).ToList();
        var mismatches = answers.SelectMany(validator.Mismatches).ToList();

        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {answers.Count} answers differ from the document:\n{string.Join('\n', mismatches)}");
        var operations = answers.Select(a => $"{a.Method} {DocumentValidator.PathOf(a.Route!)}").ToHashSet(StringComparer.Ordinal);
        var undocumentedOperations = validator.Operations.Where(o => !operations.Contains(o)).ToList();
        Assert.True(undocumentedOperations.Count == 0, $"The workflow never called: {string.Join(", ", undocumentedOperations)}");
    }

    private static async Task RunWorkflowAsync(TestApp app)
    {
        var admin = app.AdminClient();
        var viewerKey = (await (await admin.PostJson("/api/v1/api-keys", new { name = "workflow-viewer", role = "viewer" }))
            .ShouldBe(HttpStatusCode.Created)).GetProperty("key").GetString()!;
        var viewer = app.Client(viewerKey);
        var doomedKey = (await (await admin.PostJson("/api/v1/api-keys", new { name = "workflow-doomed", role = "operator" }))
            .ShouldBe(HttpStatusCode.Created)).GetProperty("id").GetString();
        await admin.GetAsync("/api/v1/api-keys");
        await admin.DeleteAsync($"/api/v1/api-keys/{doomedKey}");

        var token = await (await admin.PostJson("/api/v1/registration-tokens", new { maxUses = 3, labels = new { zone = "eu-1" } }))
            .ShouldBe(HttpStatusCode.Created);
        await admin.GetAsync("/api/v1/registration-tokens?limit=5");
        await admin.DeleteAsync($"/api/v1/registration-tokens/{token.GetProperty("id").GetString()}");
        await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(new { name = "no-token", version = "1" }, null));

        var agent = await app.RegisterAgentAsync("workflow-agent", labels: new() { ["zone"] = "eu-1" });
        var other = await app.RegisterAgentAsync("workflow-other");
        await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy", runningTasks = 0 });
        await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity");
        await agent.Client.PostAsync($"/api/v1/agents/{agent.Id}/certificate/renew", null);
        await agent.Client.GetAsync($"/api/v1/agents/{other.Id}/identity");
        await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/task-stream"); // not a WebSocket request: refused
        await app.Client().GetAsync("/api/v1/ca");

        await admin.GetAsync("/api/v1/agents?status=online&label=zone%3Deu-1");
        await admin.GetAsync("/api/v1/agents?limit=1"); // two agents: a Link to the next page
        await admin.GetAsync($"/api/v1/agents/{agent.Id}");
        await admin.GetAsync($"/api/v1/agents/{Guid.NewGuid()}");
        await admin.PutAsync($"/api/v1/agents/{other.Id}", TestAgents.JsonContent(new { labels = new { zone = "eu-2" } }, null));
        await admin.PutAsync($"/api/v1/agents/{other.Id}", TestAgents.JsonContent(new { labels = new { zone = "" } }, null));
        await admin.PostAsync($"/api/v1/agents/{other.Id}/drain", null);
        await admin.PostAsync($"/api/v1/agents/{other.Id}/resume", null);

        var target = await (await admin.PostJson("/api/v1/targets", new { name = "web-01", type = "ssh", agentId = agent.Id, properties = new { port = 22 } }))
            .ShouldBe(HttpStatusCode.Created);
        var targetId = target.GetProperty("id").GetString();
        await admin.GetAsync("/api/v1/targets");
        await admin.GetAsync($"/api/v1/targets/{targetId}");
        await admin.PutAsync($"/api/v1/targets/{targetId}",
            TestAgents.JsonContent(new { name = "web-01", type = "ssh", agentId = agent.Id, properties = new { port = 2222 } }, null));
        await admin.DeleteAsync($"/api/v1/targets/{targetId}");

        var task = await (await admin.PostJson("/api/v1/tasks", new { taskType = "agent.noop", agentId = agent.Id, idempotencyKey = Guid.NewGuid() }))
            .ShouldBe(HttpStatusCode.Created);
        var taskId = task.GetProperty("taskId").GetString();
        await admin.GetAsync($"/api/v1/tasks?status=pending&agentId={agent.Id}");
        await admin.GetAsync($"/api/v1/tasks/{taskId}?wait=0");
        await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks");
        await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/tasks/{taskId}");
        await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{taskId}/complete", new { success = true, result = new { ok = true } });
        await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{taskId}/complete", new { success = false });
        await admin.GetAsync($"/api/v1/tasks/{taskId}?wait=5");
        await ReadEventsAsync(admin, $"/api/v1/tasks/{taskId}/events");
        await admin.PostAsync($"/api/v1/tasks/{taskId}/cancel", null);

        var doomed = await (await admin.PostJson("/api/v1/tasks", new { taskType = "agent.noop", selector = new { labels = new { zone = "eu-1" } } }))
            .ShouldBe(HttpStatusCode.Created);
        await admin.PostAsync($"/api/v1/tasks/{doomed.GetProperty("taskId").GetString()}/cancel", null);
        await admin.PostJson("/api/v1/tasks", new { taskType = "agent.noop", agentId = agent.Id, selector = new { labels = new { zone = "eu-1" } } });
        await admin.PostJson("/api/v1/tasks", new { taskType = "docker.run", agentId = agent.Id, payload = new { } });
        await viewer.PostJson("/api/v1/tasks", new { taskType = "agent.noop", agentId = agent.Id });
        await app.Client().GetAsync("/api/v1/tasks");

        var rollout = await (await admin.PostJson("/api/v1/rollouts", new { taskType = "agent.noop", agentIds = new[] { agent.Id, other.Id }, batchSize = 1 }))
            .ShouldBe(HttpStatusCode.Created);
        var rolloutId = rollout.GetProperty("rolloutId").GetString();
        await admin.GetAsync("/api/v1/rollouts");
        await admin.GetAsync($"/api/v1/rollouts/{rolloutId}?wait=0");
        await admin.PostAsync($"/api/v1/rollouts/{rolloutId}/pause", null);
        await admin.PostAsync($"/api/v1/rollouts/{rolloutId}/resume", null);
        await admin.PostAsync($"/api/v1/rollouts/{rolloutId}/cancel", null);
        await admin.PostAsync($"/api/v1/rollouts/{rolloutId}/cancel", null);
        await ReadEventsAsync(admin, $"/api/v1/rollouts/{rolloutId}/events");

        await admin.GetAsync("/api/v1/audit?limit=20");
        await admin.PostAsync("/api/v1/ca/rotate", null);
        await admin.DeleteAsync($"/api/v1/agents/{other.Id}");
    }

    /// <summary>Opens an event stream and reads what is there for a moment: the stream of an ended task or rollout ends
    /// by itself; the time bound only keeps a stream that does not from holding the test.</summary>
    private static async Task ReadEventsAsync(HttpClient client, string path)
    {
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            using var response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, bounded.Token);
            await response.Content.ReadAsStringAsync(bounded.Token);
        }
        catch (OperationCanceledException) when (bounded.IsCancellationRequested)
        {
            // Still open after the bound: what was sent has been recorded.
        }
    }

    /// <summary>One answer as the service gave it, with the route of the endpoint that gave it.</summary>
    private sealed record Answer(string Method, string? Route, int Status, string? ContentType, byte[] Body, string[] Headers);

    /// <summary>The headers whose presence the document must declare where an answer carries them.</summary>
    private static readonly string[] DocumentedHeaders = ["Location", "Link", "Retry-After"];

    /// <summary>Records every answer, outermost in the pipeline, so problem details written by the exception handler
    /// and the status code pages are seen as the client saw them.</summary>
    private sealed class ResponseRecorder : IStartupFilter
    {
        public ConcurrentQueue<Answer> Answers { get; } = new();

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, nextMiddleware) =>
            {
                if (context.WebSockets.IsWebSocketRequest)
                {
                    await nextMiddleware(context);
                    return;
                }

                var original = context.Response.Body;
                using var copy = new MemoryStream();
                context.Response.Body = new TeeStream(original, copy);
                try
                {
                    await nextMiddleware(context);
                }
                finally
                {
                    context.Response.Body = original;
                    var endpoint = context.GetEndpoint() ?? context.Features.Get<IExceptionHandlerFeature>()?.Endpoint;
                    Answers.Enqueue(new Answer(context.Request.Method, (endpoint as RouteEndpoint)?.RoutePattern.RawText,
                        context.Response.StatusCode, context.Response.ContentType, copy.ToArray(),
                        [.. DocumentedHeaders.Where(h => context.Response.Headers.ContainsKey(h))]));
                }
            });
            next(app);
        };
    }

    private sealed class TeeStream(Stream inner, MemoryStream copy) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            copy.Write(buffer, offset, count);
            inner.Write(buffer, offset, count);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            copy.Write(buffer.Span);
            await inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <summary>Reads the OpenAPI 3.0 document's operations and turns its schemas into JSON Schema 2020-12 for
    /// JsonSchema.Net: <c>nullable</c> becomes a <c>null</c> type, and references point into <c>$defs</c>.</summary>
    private sealed class DocumentValidator
    {
        private static readonly EvaluationOptions ListErrors = new() { OutputFormat = OutputFormat.List };
        private readonly JsonElement _document;
        private readonly JsonObject _definitions;

        public DocumentValidator(JsonElement document)
        {
            _document = document;
            _definitions = (JsonObject)ToJsonSchema(JsonNode.Parse(document.GetProperty("components").GetProperty("schemas").GetRawText())!);
            Operations = [.. document.GetProperty("paths").EnumerateObject()
                .SelectMany(p => p.Value.EnumerateObject().Where(o => o.Name is "get" or "put" or "post" or "delete" or "patch")
                    .Select(o => $"{o.Name.ToUpperInvariant()} {p.Name}"))];
        }

        public IReadOnlyList<string> Operations { get; }

        /// <summary>The document's path for a route pattern: no constraints, no trailing slash.</summary>
        public static string PathOf(string route)
        {
            var path = System.Text.RegularExpressions.Regex.Replace(route, "\\{([^}:?]+)[^}]*\\}", "{$1}").TrimEnd('/');
            return path.StartsWith('/') ? path : "/" + path;
        }

        public IEnumerable<string> Mismatches(Answer answer)
        {
            var path = PathOf(answer.Route!);
            var what = $"{answer.Method} {path} → {answer.Status}";
            if (!_document.GetProperty("paths").TryGetProperty(path, out var item) ||
                !item.TryGetProperty(answer.Method.ToLowerInvariant(), out var operation))
            {
                yield return $"{what}: the operation is not in the document";
                yield break;
            }

            var responses = operation.GetProperty("responses");
            if (!responses.TryGetProperty(answer.Status.ToString(System.Globalization.CultureInfo.InvariantCulture), out var response) &&
                !responses.TryGetProperty("default", out response))
            {
                yield return $"{what}: status not documented (documented: {string.Join(", ", responses.EnumerateObject().Select(r => r.Name))})";
                yield break;
            }

            foreach (var header in answer.Headers)
            {
                if (!response.TryGetProperty("headers", out var headers) || !headers.TryGetProperty(header, out _))
                {
                    yield return $"{what}: carried {header}, which the document does not declare for it";
                }
            }

            if (answer.Body.Length == 0 || answer.ContentType is null)
            {
                yield break;
            }

            var mediaType = answer.ContentType.Split(';')[0].Trim();
            if (!response.TryGetProperty("content", out var content) || !content.TryGetProperty(mediaType, out var media))
            {
                var documented = response.TryGetProperty("content", out content) ? string.Join(", ", content.EnumerateObject().Select(c => c.Name)) : "none";
                yield return $"{what}: content type {mediaType} not documented (documented: {documented})";
                yield break;
            }

            if (!mediaType.EndsWith("json", StringComparison.Ordinal) || !media.TryGetProperty("schema", out var schemaElement))
            {
                yield break;
            }

            var schema = (JsonObject)ToJsonSchema(JsonNode.Parse(schemaElement.GetRawText())!);
            schema["$defs"] = _definitions.DeepClone();
            using var body = JsonDocument.Parse(answer.Body);
            var results = JsonSchema.FromText(schema.ToJsonString()).Evaluate(body.RootElement, ListErrors);
            if (results.IsValid)
            {
                yield break;
            }

            var errors = (results.Details ?? []).Prepend(results).Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")).Distinct().Take(5);
            yield return $"{what}: body does not match the schema: {string.Join("; ", errors)}";
        }

        private static JsonNode ToJsonSchema(JsonNode node)
        {
            switch (node)
            {
                case JsonArray array:
                    foreach (var item in array.Where(i => i is not null).ToList())
                    {
                        ToJsonSchema(item!);
                    }

                    return array;
                case JsonObject schema:
                    foreach (var (_, value) in schema.ToList().Where(p => p.Value is JsonObject or JsonArray))
                    {
                        ToJsonSchema(value!);
                    }

                    if (schema["example"] is { } example)
                    {
                        // OpenAPI 3.0's `example` is 2020-12's `examples`, which JsonSchema.Net's dialect knows.
                        schema.Remove("example");
                        schema["examples"] = new JsonArray(example);
                    }

                    if (schema["$ref"] is JsonValue reference)
                    {
                        schema["$ref"] = reference.GetValue<string>().Replace("#/components/schemas/", "#/$defs/", StringComparison.Ordinal);
                    }

                    if (schema["nullable"] is JsonValue nullable && nullable.GetValue<bool>())
                    {
                        schema.Remove("nullable");
                        // Beside a composition (how a nullable reference is written) null is one more choice, as
                        // generators read it; otherwise the type gains null.
                        var composed = schema.ContainsKey("allOf") || schema.ContainsKey("oneOf") || schema.ContainsKey("anyOf") || schema.ContainsKey("$ref");
                        if (!composed && schema["type"] is JsonValue type)
                        {
                            schema["type"] = new JsonArray(type.GetValue<string>(), "null");
                            if (schema["enum"] is JsonArray values)
                            {
                                values.Add(null);
                            }
                        }
                        else
                        {
                            var copy = schema.DeepClone();
                            schema.Clear();
                            schema["anyOf"] = new JsonArray(new JsonObject { ["type"] = "null" }, copy);
                        }
                    }

                    return schema;
                default:
                    return node;
            }
        }
    }
}
