using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;
using Orchestrator.Testing;

namespace Orchestrator.Client.Tests;

/// <summary>Issue 23, item 4: a client generated from the live OpenAPI document by the generators .NET teams use, Kiota
/// and NSwag (their dotnet tools from NuGet; .ci/run installs them and exports their paths), compiles and makes a round
/// trip against the real service: create a registration token, list agents with a filter, create a task, wait on it,
/// cancel it. The generated code is compiled by the SDK's C# compiler with a few lines written against its API.</summary>
public sealed class GeneratedClientTests(ServiceFixture service) : IClassFixture<ServiceFixture>, IDisposable
{
    public const string KiotaVariable = "ORCHESTRATOR_KIOTA";
    public const string NSwagVariable = "ORCHESTRATOR_NSWAG";

    [SkippableFact]
    public async Task A_kiota_client_generated_from_the_live_document_makes_a_round_trip()
    {
        var kiota = Tool(KiotaVariable);
        var work = await DocumentAsync();
        await RunAsync(kiota, "generate", "-l", "CSharp", "-d", Path.Combine(work, "openapi.json"), "-o", Path.Combine(work, "kiota"),
            "-c", "OrchestratorKiotaClient", "-n", "Generated.Kiota", "--exclude-backward-compatible", "--ll", "error");

        var answer = await CompileAndRunAsync(Directory.GetFiles(Path.Combine(work, "kiota"), "*.cs", SearchOption.AllDirectories), KiotaDriver);

        AssertRoundTrip(answer);
    }

    [SkippableFact]
    public async Task An_nswag_client_generated_from_the_live_document_makes_a_round_trip()
    {
        var nswag = Tool(NSwagVariable);
        var work = await DocumentAsync();
        var output = Path.Combine(work, "NSwagClient.cs");
        await RunAsync(nswag, "openapi2csclient", $"/input:{Path.Combine(work, "openapi.json")}", $"/output:{output}", "/namespace:Generated.NSwag",
            "/className:OrchestratorNSwagClient", "/jsonLibrary:SystemTextJson", "/generateClientInterfaces:false");

        var answer = await CompileAndRunAsync([output], NSwagDriver);

        AssertRoundTrip(answer);
    }

    private const string KiotaDriver = """
        using Generated.Kiota;
        using Generated.Kiota.Models.Contracts;
        using Microsoft.Kiota.Abstractions.Authentication;
        using Microsoft.Kiota.Http.HttpClientLibrary;

        public static class Driver
        {
            public static async Task<string> RunAsync(HttpClient http, Guid agentId, string label)
            {
                var adapter = new HttpClientRequestAdapter(new AnonymousAuthenticationProvider(), httpClient: http)
                {
                    BaseUrl = http.BaseAddress!.ToString().TrimEnd('/'),
                };
                var client = new OrchestratorKiotaClient(adapter);
                var token = await client.Api.V1.RegistrationTokens.PostAsync(new CreateTokenRequest { Description = "kiota", MaxUses = 1 });
                var agents = await client.Api.V1.Agents.GetAsync(c =>
                {
                    c.QueryParameters.Label = [label];
                    c.QueryParameters.Limit = 10;
                });
                var task = await client.Api.V1.Tasks.PostAsync(new CreateTaskRequest { TaskType = "agent.noop", AgentId = agentId });
                var waited = await client.Api.V1.Tasks[task!.TaskId!.Value].GetAsync(c => c.QueryParameters.Wait = 1);
                var cancelled = await client.Api.V1.Tasks[task.TaskId.Value].Cancel.PostAsync();
                return string.Join(' ', token!.Token!.Length > 0, agents!.Count, agents[0].Id, waited!.Status, cancelled!.Status);
            }
        }
        """;

    private const string NSwagDriver = """
        using System.Linq;
        using Generated.NSwag;

        public static class Driver
        {
            public static async Task<string> RunAsync(HttpClient http, Guid agentId, string label)
            {
                // The document's server is "/" (this service): the base address is the reader's to give.
                var client = new OrchestratorNSwagClient(http) { BaseUrl = http.BaseAddress!.ToString() };
                var token = await client.CreateRegistrationTokenAsync(new CreateTokenRequest { Description = "nswag", MaxUses = 1 });
                var agents = await client.ListAgentsAsync(status: null, label: [label], capability: null, limit: 10, after: null);
                // The Idempotency-Key header comes first (NSwag puts headers before the body); a retried call would send a key.
                var task = await client.CreateTaskAsync(Guid.NewGuid().ToString(), new CreateTaskRequest { TaskType = "agent.noop", AgentId = agentId });
                var waited = await client.GetTaskAsync(task.TaskId, wait: 1);
                var cancelled = await client.CancelTaskAsync(task.TaskId);
                return string.Join(' ', token.Token.Length > 0, agents.Count, agents.First().Id, waited.Status, cancelled.Status);
            }
        }
        """;

    private static string CscDll => typeof(GeneratedClientTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "CscDll").Value!;

    // The test's own directory: the live document, the generator's output and the compiled client; gone after the test.
    private readonly string _work = Directory.CreateTempSubdirectory("orch-generated-").FullName;
    private Guid _agentId;
    private string _zone = "";

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private void AssertRoundTrip(string answer)
    {
        // "True 1 <the agent> Pending Cancelled" in each generator's spelling of the enumeration values.
        var parts = answer.Split(' ');
        Assert.Equal("True", parts[0]);
        Assert.Equal("1", parts[1]);
        Assert.Equal(_agentId.ToString(), parts[2]);
        Assert.Equal("pending", parts[3].ToLowerInvariant());
        Assert.Equal("cancelled", parts[4].ToLowerInvariant());
    }

    private static string Tool(string variable)
    {
        var path = Environment.GetEnvironmentVariable(variable);
        Assert.False(string.IsNullOrEmpty(path) && Environment.GetEnvironmentVariable("CI") == "true", $"{variable} is not set.");
        Skip.If(string.IsNullOrEmpty(path) || !File.Exists(path), $"{variable} does not name the generator's dotnet tool.");
        return path!;
    }

    /// <summary>The live document in a directory of the test's own, and an agent of its own to target.</summary>
    private async Task<string> DocumentAsync()
    {
        _zone = $"generated-{Guid.NewGuid():N}";
        var agent = await service.App.RegisterAgentAsync(labels: new() { ["zone"] = _zone });
        _agentId = agent.Id;
        await File.WriteAllTextAsync(Path.Combine(_work, "openapi.json"), await service.App.Client().GetStringAsync("/swagger/v1/swagger.json"));
        return _work;
    }

    private static async Task RunAsync(string tool, params string[] arguments)
    {
        var (exitCode, output) = await RunForOutputAsync(tool, arguments);
        Assert.True(exitCode == 0, $"{Path.GetFileName(tool)} exited {exitCode}:\n{output}");
    }

    private static async Task<(int ExitCode, string Output)> RunForOutputAsync(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // Kiota would otherwise look for updates and send telemetry: neither belongs in a test run.
        start.Environment["KIOTA_OFFLINE_ENABLED"] = "true";
        start.Environment["KIOTA_TUTORIAL_ENABLED"] = "false";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, $"{await output}\n{await error}");
    }

    /// <summary>Compiles the generated files with the driver, by the SDK's compiler (<c>csc</c>, the one every build here
    /// uses), against this process's framework and the generators' runtime packages (referenced by this test project),
    /// then runs the driver with an operator's client.</summary>
    private async Task<string> CompileAndRunAsync(IEnumerable<string> files, string driver)
    {
        var work = Directory.CreateDirectory(Path.Combine(_work, "build")).FullName;
        var driverFile = Path.Combine(work, "Driver.cs");
        await File.WriteAllTextAsync(driverFile, "global using System; global using System.Net.Http; global using System.Threading.Tasks;\n" + driver);
        var assemblyFile = Path.Combine(work, $"Generated{Guid.NewGuid():N}.dll");
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(Directory.GetFiles(AppContext.BaseDirectory, "Microsoft.Kiota.*.dll"))
            .Distinct(StringComparer.Ordinal);
        // One argument a line, quoted: the response file is how csc takes hundreds of references.
        var arguments = new[] { "-nologo", "-noconfig", "-target:library", "-langversion:latest", "-nullable:enable", "-warn:0",
                "-define:NETCOREAPP3_1_OR_GREATER;NET5_0_OR_GREATER", $"-out:{assemblyFile}" }
            .Concat(references.Select(r => $"-r:{r}"))
            .Concat(files)
            .Append(driverFile)
            .Select(a => $"\"{a}\"");
        var responseFile = Path.Combine(work, "csc.rsp");
        await File.WriteAllLinesAsync(responseFile, arguments);
        var (exitCode, output) = await RunForOutputAsync("dotnet", CscDll, $"@{responseFile}");
        Assert.True(exitCode == 0, $"The generated client does not compile (csc exited {exitCode}):\n{output}");

        var context = new AssemblyLoadContext("generated-client", isCollectible: true);
        try
        {
            Assembly assembly;
            using (var image = File.OpenRead(assemblyFile))
            {
                // From a stream, so the file is not held open and the test's directory can go afterwards on every OS.
                assembly = context.LoadFromStream(image);
            }

            var run = assembly.GetType("Driver")!.GetMethod("RunAsync", BindingFlags.Public | BindingFlags.Static)!;
            return await (Task<string>)run.Invoke(null, [service.App.AdminClient(), _agentId, $"zone={_zone}"])!;
        }
        finally
        {
            context.Unload();
        }
    }
}
