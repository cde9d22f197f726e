using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Web;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Orchestrator.Tests.Foundation;

/// <summary>The live OpenAPI document as tools nobody here wrote read it: Redocly's recommended rules find no error, and
/// every operation declares the parameters of its route and the credentials it takes, which generated clients and
/// Swagger UI's "Authorize" rely on.</summary>
public sealed partial class OpenApiDocumentTests(SharedApps apps) : IClassFixture<SharedApps>
{
    /// <summary>The Redocly CLI (<c>npm install @redocly/cli</c>); .ci/run installs it and exports its path.</summary>
    public const string RedoclyVariable = "ORCHESTRATOR_REDOCLY";

    private static readonly string[] AgentOperations =
    [
        "completeAgentTask", "getAgentIdentity", "getAgentTask", "getAgentTaskStream", "heartbeatAgent", "listAgentTasks", "renewAgentCertificate",
    ];

    private static readonly string[] AnonymousOperations = ["getCa", "registerAgent"];

    private async Task<JsonElement> DocumentAsync() =>
        await (await (await apps.For(DatabaseProvider.Sqlite)).Client().GetAsync("/swagger/v1/swagger.json")).ShouldBe(HttpStatusCode.OK);

    private static IEnumerable<(string Path, string Method, JsonElement Operation)> Operations(JsonElement document) =>
        document.GetProperty("paths").EnumerateObject().SelectMany(path => path.Value.EnumerateObject()
            .Where(o => o.Name is "get" or "put" or "post" or "delete" or "patch")
            .Select(o => (path.Name, o.Name, o.Value)));

    /// <summary>Swagger UI asks for the document every time it opens: the service builds it once, and answers every
    /// request after with that document, byte for byte, as the first was answered.</summary>
    [Fact]
    public async Task The_document_is_built_once_and_every_request_gets_the_same()
    {
        var builds = new DocumentBuilds();
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, services: services =>
        {
            services.AddSingleton(builds);
            services.Configure<SwaggerGenOptions>(options => options.DocumentFilter<CountingDocumentFilter>());
        });
        var client = app.Client();

        var answers = new List<(string? ContentType, byte[] Body)>();
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.GetAsync("/swagger/v1/swagger.json");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            answers.Add((response.Content.Headers.ContentType?.ToString(), await response.Content.ReadAsByteArrayAsync()));
        }

        Assert.Equal(1, builds.Count);
        Assert.StartsWith("application/json", answers[0].ContentType, StringComparison.Ordinal);
        Assert.All(answers, a => Assert.Equal(answers[0].ContentType, a.ContentType));
        Assert.All(answers, a => Assert.Equal(answers[0].Body, a.Body));
        using var document = JsonDocument.Parse(answers[0].Body);
        Assert.True(document.RootElement.GetProperty("paths").EnumerateObject().Any());
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/swagger/v2/swagger.json")).StatusCode);
    }

    private sealed class DocumentBuilds
    {
        private int _count;

        public int Count => _count;

        public void Add() => Interlocked.Increment(ref _count);
    }

    private sealed class CountingDocumentFilter(DocumentBuilds builds) : IDocumentFilter
    {
        public void Apply(OpenApiDocument swaggerDoc, DocumentFilterContext context) => builds.Add();
    }

    [SkippableFact]
    public async Task The_live_document_passes_Redocly_recommended_rules_with_no_error()
    {
        var redocly = Environment.GetEnvironmentVariable(RedoclyVariable);
        Assert.False(string.IsNullOrEmpty(redocly) && Environment.GetEnvironmentVariable("CI") == "true", $"{RedoclyVariable} is not set.");
        Skip.If(string.IsNullOrEmpty(redocly) || !File.Exists(redocly), $"{RedoclyVariable} does not name the Redocly CLI (npm install @redocly/cli).");
        var file = Path.Combine(TempDirectories.New("orch-openapi-"), "openapi.json");
        await File.WriteAllTextAsync(file, (await DocumentAsync()).GetRawText());

        var start = new ProcessStartInfo(redocly!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "lint", file, "--format=json" })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["REDOCLY_TELEMETRY"] = "off";
        start.Environment["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        using var report = JsonDocument.Parse(await output);
        var errors = report.RootElement.GetProperty("problems").EnumerateArray()
            .Where(p => p.GetProperty("severity").GetString() == "error")
            .Select(p => $"{p.GetProperty("ruleId").GetString()}: {p.GetProperty("message").GetString()}").ToList();
        Assert.True(errors.Count == 0, $"Redocly found {errors.Count} errors:\n{string.Join('\n', errors)}\n{await error}");
        Assert.Equal(0, report.RootElement.GetProperty("totals").GetProperty("errors").GetInt32());
    }

    [Fact]
    public async Task Every_operation_declares_its_route_parameters_as_required_path_parameters()
    {
        var document = await DocumentAsync();

        foreach (var (path, method, operation) in Operations(document))
        {
            var declared = operation.TryGetProperty("parameters", out var parameters)
                ? parameters.EnumerateArray().Where(p => p.GetProperty("in").GetString() == "path").ToList()
                : [];
            var inRoute = RouteParameter().Matches(path).Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal);
            Assert.Equal(inRoute, declared.Select(p => p.GetProperty("name").GetString()!).Order(StringComparer.Ordinal));
            Assert.All(declared, p => Assert.True(p.GetProperty("required").GetBoolean(), $"{method} {path}: {p}"));
        }
    }

    [Fact]
    public async Task Each_operation_names_the_credentials_it_takes_agents_an_api_key_or_none()
    {
        var document = await DocumentAsync();

        var schemes = Operations(document).ToDictionary(o => o.Operation.GetProperty("operationId").GetString()!, o =>
        {
            var requirements = o.Operation.GetProperty("security").EnumerateArray().ToList();
            return requirements.Count == 0 ? "none" : Assert.Single(Assert.Single(requirements).EnumerateObject()).Name;
        });

        Assert.Equal(AnonymousOperations, schemes.Where(s => s.Value == "none").Select(s => s.Key).Order(StringComparer.Ordinal));
        Assert.Equal(AgentOperations, schemes.Where(s => s.Value == "Agent").Select(s => s.Key).Order(StringComparer.Ordinal));
        Assert.All(schemes.Where(s => !AnonymousOperations.Contains(s.Key) && !AgentOperations.Contains(s.Key)),
            s => Assert.Equal("ApiKey", s.Value));
        Assert.False(document.TryGetProperty("security", out _), "Security is declared per operation, not for the whole document.");
    }

    [Fact]
    public async Task The_agents_own_operations_are_grouped_apart_after_the_operators_groups()
    {
        var document = await DocumentAsync();

        foreach (var (path, method, operation) in Operations(document))
        {
            var id = operation.GetProperty("operationId").GetString()!;
            var tags = operation.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!).ToList();
            Assert.NotEmpty(tags);
            Assert.All(tags, tag => Assert.True(AgentOperations.Contains(id) == tag.StartsWith("Agent API: ", StringComparison.Ordinal),
                $"{method} {path} ({id}) is tagged '{tag}'"));
        }

        var order = document.GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToList();
        var firstAgentGroup = order.FindIndex(t => t.StartsWith("Agent API: ", StringComparison.Ordinal));
        Assert.True(firstAgentGroup > 0, string.Join(", ", order));
        Assert.All(order.Skip(firstAgentGroup), t => Assert.StartsWith("Agent API: ", t));
        Assert.All(document.GetProperty("tags").EnumerateArray().Where(t => t.GetProperty("name").GetString()!.StartsWith("Agent API: ", StringComparison.Ordinal)),
            t => Assert.Contains("mutual TLS", t.GetProperty("description").GetString()));
    }

    [Theory]
    [InlineData("listAgents", "status:string:online|offline|degraded", "label:array", "capability:array", "limit:integer:1-1000", "after:string")]
    [InlineData("listTasks", "status:string:pending|assigned|running|succeeded|failed|cancelling|cancelled|timed_out", "agentId:string", "limit:integer:1-1000")]
    [InlineData("listRollouts", "status:string", "limit:integer:1-1000", "after:string")]
    [InlineData("getTask", "wait:integer:0-60")]
    [InlineData("getRollout", "wait:integer:0-60")]
    [InlineData("listApiKeys", "limit:integer:1-1000", "after:string")]
    [InlineData("listRegistrationTokens", "limit:integer:1-1000", "after:string")]
    [InlineData("listTargets", "agentId:string", "type:string", "limit:integer:1-1000", "after:string")]
    [InlineData("listAuditEvents", "action:string", "subjectId:string", "limit:integer:1-1000", "after:string")]
    public async Task Query_parameters_are_declared_with_their_type_range_and_allowed_values(string operationId, params string[] expected)
    {
        var document = await DocumentAsync();
        var operation = Operations(document).Single(o => o.Operation.GetProperty("operationId").GetString() == operationId).Operation;
        var query = operation.GetProperty("parameters").EnumerateArray().Where(p => p.GetProperty("in").GetString() == "query")
            .ToDictionary(p => p.GetProperty("name").GetString()!, p => p.GetProperty("schema"));

        foreach (var parts in expected.Select(e => e.Split(':')))
        {
            Assert.True(query.TryGetValue(parts[0], out var schema), $"{operationId} does not declare '{parts[0]}' ({string.Join(", ", query.Keys)})");
            Assert.Equal(parts[1], schema.GetProperty("type").GetString());
            if (parts.Length > 2 && parts[2].Contains('-', StringComparison.Ordinal))
            {
                var range = parts[2].Split('-');
                Assert.Equal(range[0], schema.GetProperty("minimum").GetRawText());
                Assert.Equal(range[1], schema.GetProperty("maximum").GetRawText());
            }
            else if (parts.Length > 2)
            {
                Assert.Equal(parts[2].Split('|'), schema.GetProperty("enum").EnumerateArray().Select(v => v.GetString()!));
            }
        }
    }

    [SkippableFact]
    public async Task Every_request_body_has_an_example_and_each_operators_example_succeeds_as_it_stands()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync(labels: new() { ["zone"] = "eu-1" });
        var admin = app.AdminClient();
        var target = (await (await admin.PostJson("/api/v1/targets", new { name = "example-target", type = "ssh", agentId = agent.Id })).ShouldBe(HttpStatusCode.Created))
            .GetProperty("id").GetString();
        var document = await (await app.Client().GetAsync("/swagger/v1/swagger.json")).ShouldBe(HttpStatusCode.OK);
        var schemas = document.GetProperty("components").GetProperty("schemas");

        // Draining last: a drained agent no longer takes the examples' tasks.
        foreach (var (path, method, operation) in Operations(document).OrderBy(o => o.Path.EndsWith("/drain", StringComparison.Ordinal)))
        {
            if (!operation.TryGetProperty("requestBody", out var body))
            {
                continue;
            }

            var schema = body.GetProperty("content").GetProperty("application/json").GetProperty("schema");
            if (schema.TryGetProperty("allOf", out var only) && only.GetArrayLength() == 1)
            {
                schema = only[0]; // an optional body: its schema, marked nullable
            }

            if (schema.TryGetProperty("$ref", out var reference))
            {
                schema = schemas.GetProperty(reference.GetString()!.Split('/')[^1]);
            }

            var id = operation.GetProperty("operationId").GetString()!;
            Assert.True(schema.TryGetProperty("example", out var example), $"{method} {path} ({id}) has no example to pre-fill.");
            if (AgentOperations.Contains(id) || AnonymousOperations.Contains(id))
            {
                continue; // an agent's credentials (or a registration token) are not an operator's to try
            }

            var url = path.Replace("/api/v1/agents/{id}", $"/api/v1/agents/{agent.Id}", StringComparison.Ordinal)
                .Replace("/api/v1/targets/{id}", $"/api/v1/targets/{target}", StringComparison.Ordinal);
            // The one thing a reader replaces: the placeholder that stands for an agent of their fleet.
            var sent = example.GetRawText().Replace(RequestExamples.PlaceholderAgentId, agent.Id.ToString(), StringComparison.Ordinal);
            using var request = new HttpRequestMessage(new HttpMethod(method.ToUpperInvariant()), url)
            {
                Content = new StringContent(sent, System.Text.Encoding.UTF8, "application/json"),
            };
            using var response = await admin.SendAsync(request);
            Assert.True(response.IsSuccessStatusCode,
                $"{method} {path} ({id}) with its example answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");

            // What the document lists as required, the service refuses a request without, naming the field.
            foreach (var field in schema.TryGetProperty("required", out var required) ? required.EnumerateArray().Select(f => f.GetString()!) : [])
            {
                var without = System.Text.Json.Nodes.JsonNode.Parse(sent)!.AsObject();
                without.Remove(field);
                using var refused = await admin.SendAsync(new HttpRequestMessage(new HttpMethod(method.ToUpperInvariant()), url)
                {
                    Content = new StringContent(without.ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
                });
                var problem = await refused.Content.ReadAsStringAsync();
                Assert.True(refused.StatusCode == HttpStatusCode.BadRequest && problem.Contains(field, StringComparison.Ordinal),
                    $"{method} {path} ({id}) without its required '{field}' answered {(int)refused.StatusCode}: {problem}");
            }
        }
    }

    [GeneratedRegex(@"\{([A-Za-z]+)\}")]
    private static partial Regex RouteParameter();
}
