using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Instrumentation.AspNetCore;
using OpenTelemetry.Instrumentation.Http;
using Orchestrator.Agent.Tests.Support;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.EndToEnd;

/// <summary>The agent as users run it: <c>dotnet Orchestrator.Agent.dll run …</c>, a real process with real signals.</summary>
public sealed class AgentProcessTests
{
    private static readonly string AgentDll = Path.Combine(AppContext.BaseDirectory, "Orchestrator.Agent.dll");

    [Fact]
    public async Task Missing_flags_are_a_usage_error_with_exit_code_64()
    {
        using var agent = Start(["run", "--state-dir", TempDirectories.New()]);

        var (code, _, error) = await agent.EndAsync();

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--server is required", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_identity_and_without_token_it_exits_2_saying_what_to_do()
    {
        // No CA either: the missing token is what the operator must fix first, so it is what the agent says.
        using var agent = Start(["run", "--server", "https://127.0.0.1:1", "--state-dir", TempDirectories.New()]);

        var (code, output, _) = await agent.EndAsync();

        Assert.Equal(ExitCodes.CannotStart, code);
        Assert.Contains("no registration token was given", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_a_token_but_no_pinned_ca_it_exits_2_before_contacting_the_server()
    {
        using var agent = Start(["run", "--server", "https://127.0.0.1:1", "--state-dir", TempDirectories.New(), "--token", "orch_rt_unused"]);

        var (code, output, _) = await agent.EndAsync();

        Assert.Equal(ExitCodes.CannotStart, code);
        Assert.Contains("The server's CA is not pinned: give --ca-file", output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Configured_by_environment_it_registers_takes_work_and_exits_0_on_sigterm_without_printing_its_token()
    {
        await using var world = await AgentWorld.StartAsync(DatabaseProvider.Sqlite);
        var tokenFile = await world.TokenFileAsync();
        var token = (await File.ReadAllTextAsync(tokenFile)).Trim();
        var name = $"proc-{Guid.NewGuid():N}"[..16];
        using var agent = Start(["run", "--label", "kind=process"], new Dictionary<string, string>
        {
            ["OrchestratorAgent__Server"] = world.App.BaseAddress.ToString(),
            ["OrchestratorAgent__StateDir"] = TempDirectories.New(),
            ["OrchestratorAgent__TokenFile"] = tokenFile,
            ["OrchestratorAgent__CaFile"] = world.CaFile,
            ["OrchestratorAgent__Name"] = name,
            ["OrchestratorAgent__DockerHost"] = "unix:///nonexistent/docker.sock",
        });

        var registered = await WaitForAgentAsync(world, name);
        var task = await world.CreateTaskAsync(registered.Id, "agent.noop");
        Assert.Equal(AgentTaskStatus.Succeeded, (await world.EndedAsync(task.TaskId)).Status);
        agent.Signal(15);
        var (code, output, error) = await agent.EndAsync();

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal("process", registered.Labels["kind"]);
        Assert.Contains("Stopped", output, StringComparison.Ordinal);
        Assert.DoesNotContain(token, output + error, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task With_DOCKER_HOST_at_a_socket_where_nothing_listens_it_reports_docker_missing_with_a_reason_naming_that_socket()
    {
        await using var world = await AgentWorld.StartAsync(DatabaseProvider.Sqlite);
        // A socket bound but not listening: connecting to it is refused, as to an engine's socket whose daemon is down.
        var path = Path.Combine(TempDirectories.New(), "docker.sock");
        using var socket = new System.Net.Sockets.Socket(
            System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        socket.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        var name = $"nodocker-{Guid.NewGuid():N}"[..18];
        using var agent = Start(["run"], new Dictionary<string, string>
        {
            ["OrchestratorAgent__Server"] = world.App.BaseAddress.ToString(),
            ["OrchestratorAgent__StateDir"] = TempDirectories.New(),
            ["OrchestratorAgent__TokenFile"] = await world.TokenFileAsync(),
            ["OrchestratorAgent__CaFile"] = world.CaFile,
            ["OrchestratorAgent__Name"] = name,
            ["DOCKER_HOST"] = $"unix://{path}",
        });

        var registered = await WaitForAgentAsync(world, name);
        var details = registered;
        for (var deadline = DateTime.UtcNow.AddSeconds(30); !details.MissingCapabilities.ContainsKey("docker"); )
        {
            Assert.True(DateTime.UtcNow < deadline, $"No missing capability was reported: {string.Join(", ", details.MissingCapabilities)}");
            await Task.Delay(100);
            details = await world.Operators.Agents.GetAsync(registered.Id);
        }

        agent.Signal(15);
        Assert.Equal(ExitCodes.Ok, (await agent.EndAsync()).Code);
        Assert.DoesNotContain("docker", details.Capabilities);
        var reason = details.MissingCapabilities["docker"];
        Assert.Contains($"unix://{path}", reason, StringComparison.Ordinal);
        Assert.Contains("DOCKER_HOST", reason, StringComparison.Ordinal);
        Assert.Contains("refused", reason, StringComparison.OrdinalIgnoreCase);
    }

    [SkippableFact]
    public async Task With_OTLP_set_the_operators_request_the_delivery_the_agents_work_and_the_completion_are_one_trace()
    {
        await using var dashboard = await AspireDashboard.StartAsync();
        var otlp = dashboard.OtlpGrpc.ToString().TrimEnd('/');
        await using var world = await AgentWorld.StartAsync(DatabaseProvider.Sqlite, new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp,
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        }, OnlyItsOwnTraces);
        var name = $"traced-{Guid.NewGuid():N}"[..18];
        using var agent = Start(["run"], new Dictionary<string, string>
        {
            ["OrchestratorAgent__Server"] = world.App.BaseAddress.ToString(),
            ["OrchestratorAgent__StateDir"] = TempDirectories.New(),
            ["OrchestratorAgent__TokenFile"] = await world.TokenFileAsync(),
            ["OrchestratorAgent__CaFile"] = world.CaFile,
            ["OrchestratorAgent__Name"] = name,
            ["OrchestratorAgent__DockerHost"] = "unix:///nonexistent/docker.sock",
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp,
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        });
        var registered = await WaitForAgentAsync(world, name);

        // An operator's call made in a trace of its own (as a traced CI job or the client library in a traced app).
        ActivityTraceId trace;
        Guid taskId;
        using (var caller = new Activity(Caller) { ActivityTraceFlags = ActivityTraceFlags.Recorded }.Start())
        {
            trace = caller.TraceId;
            taskId = (await world.CreateTaskAsync(registered.Id, "agent.noop")).TaskId;
        }

        Assert.Equal(AgentTaskStatus.Succeeded, (await world.EndedAsync(taskId)).Status);
        agent.Signal(15);
        Assert.Equal(ExitCodes.Ok, (await agent.EndAsync()).Code);

        string[] expected = ["orchestrator/task.create", "orchestrator/task.dispatch", "orchestrator-agent/task.execute",
            "orchestrator-agent/task.report", "orchestrator/task.complete"];
        // Each process exports its spans in batches as they end, and a parent ends after its children: the service's
        // request that carried the completion reaches the dashboard after task.complete, sometimes in a later batch. So
        // the wait is for the whole chain from the completion up to the agent's report, not only for the names.
        var spans = await dashboard.SpansAsync(trace);
        for (var deadline = DateTime.UtcNow.AddSeconds(30);
             !expected.All(e => spans.Any(s => $"{s.Service}/{s.Name}" == e)) || !CompletionUnderAReport(spans);
             spans = await dashboard.SpansAsync(trace))
        {
            Assert.True(DateTime.UtcNow < deadline, $"The dashboard holds only {string.Join(", ", spans.Select(s => $"{s.Service}/{s.Name}"))} of trace " +
                $"{trace}, or no chain of parents from the completion to a report.");
            await Task.Delay(200);
        }

        // A task may go out more than once (a stream reconnecting resends what was not started) and a completion may be
        // sent again: each dispatch and report is a span of its own. The agent runs the task once.
        var execute = Assert.Single(Named(spans, "orchestrator-agent/task.execute"));
        Assert.Contains(Named(spans, "orchestrator/task.dispatch"), d => d.SpanId == execute.ParentSpanId);
        Assert.All(Named(spans, "orchestrator-agent/task.report"), r => Assert.Equal(execute.SpanId, r.ParentSpanId));
    }

    private static List<(string Service, string Name, string SpanId, string ParentSpanId)> Named(
        List<(string Service, string Name, string SpanId, string ParentSpanId)> spans, string name) =>
        [.. spans.Where(s => $"{s.Service}/{s.Name}" == name)];

    /// <summary>Whether the service's completion sits under one of the agent's reports (report -> its HTTP call -> the
    /// service's request -> task.complete), following parents through the spans the dashboard holds.</summary>
    private static bool CompletionUnderAReport(List<(string Service, string Name, string SpanId, string ParentSpanId)> spans)
    {
        var reports = Named(spans, "orchestrator-agent/task.report").Select(r => r.SpanId).ToHashSet();
        foreach (var complete in Named(spans, "orchestrator/task.complete"))
        {
            for (var parent = complete.ParentSpanId; parent != ""; parent = spans.FirstOrDefault(s => s.SpanId == parent).ParentSpanId ?? "")
            {
                if (reports.Contains(parent))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private const string Caller = "test.caller";

    /// <summary>The in-process service traces only its own requests and the test's traced calls: activity sources are
    /// process-wide, and other tests' hosts and clients in this process are not part of this test.</summary>
    private static void OnlyItsOwnTraces(IServiceCollection services)
    {
        var marker = new object();
        services.AddKeyedSingleton(Caller, marker);
        services.Configure<AspNetCoreTraceInstrumentationOptions>(requests =>
            requests.Filter = context => context.RequestServices.GetKeyedService<object>(Caller) is not null);
        services.Configure<HttpClientTraceInstrumentationOptions>(calls =>
            calls.FilterHttpRequestMessage = _ => Activity.Current?.Parent?.OperationName == Caller);
    }

    private static async Task<AgentDetails> WaitForAgentAsync(AgentWorld world, string name)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var found = (await world.Operators.Agents.ListAsync(limit: 1000)).Items.FirstOrDefault(a => a.Name == name);
            if (found is not null)
            {
                return await world.Operators.Agents.GetAsync(found.Id);
            }

            Assert.True(DateTime.UtcNow < deadline, $"Agent {name} did not register.");
            await Task.Delay(100);
        }
    }

    private static AgentProcess Start(string[] arguments, Dictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(AgentDll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? [])
        {
            start.Environment[key] = value;
        }

        return new AgentProcess(Process.Start(start)!);
    }

    private sealed class AgentProcess : IDisposable
    {
        private readonly Process _process;
        private readonly Task<string> _output;
        private readonly Task<string> _error;

        public AgentProcess(Process process)
        {
            _process = process;
            _output = process.StandardOutput.ReadToEndAsync();
            _error = process.StandardError.ReadToEndAsync();
        }

        public void Signal(int signal) => _ = Kill(_process.Id, signal);

        public async Task<(int Code, string Output, string Error)> EndAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await _process.WaitForExitAsync(timeout.Token);
            return (_process.ExitCode, await _output, await _error);
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.Dispose();
        }

        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static extern int Kill(int pid, int signal);
    }
}
