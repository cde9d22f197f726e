using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Instrumentation.AspNetCore;
using OpenTelemetry.Instrumentation.Http;
using OpenTelemetry.Trace;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Rollouts;
using Orchestrator.Tests.Tasks;

namespace Orchestrator.Tests.Observability;

/// <summary>One host with tracing on and an in-memory exporter beside its own configuration. Activity sources are
/// process-wide, so this host's tracer would also sample the spans of every other test host in the process (and hand
/// their tasks a trace that tests of the spec's exact shapes do not expect; a CI run failed that way): its tests run
/// alone (<see cref="ProcessWideListeners"/>), and it records only its own requests. Each test starts a trace of its
/// own and reads only the spans of that trace.</summary>
public sealed class TracedApp : IAsyncLifetime
{
    public SpanCollection Spans { get; } = new();
    public TestApp App { get; private set; } = null!;

    public async Task InitializeAsync() =>
        App = await TestApp.StartAsync(DatabaseProvider.Sqlite,
            settings: new Dictionary<string, string?> { ["Orchestrator:Tracing:Enabled"] = "true" },
            services: services =>
            {
                services.AddSingleton(Spans);
                services.Configure<AspNetCoreTraceInstrumentationOptions>(requests =>
                    requests.Filter = context => context.RequestServices.GetService<SpanCollection>() is not null);
                // The same for outgoing calls: other tests' clients would otherwise send sampled traces to their hosts.
                services.Configure<HttpClientTraceInstrumentationOptions>(calls =>
                    calls.FilterHttpRequestMessage = _ => Activity.Current?.Parent?.OperationName == TracingTests.Caller);
                services.ConfigureOpenTelemetryTracerProvider(traces => traces.AddInMemoryExporter(Spans));
            });

    public async Task DisposeAsync() => await App.DisposeAsync();
}

/// <summary>Ended spans, collected from any thread.</summary>
public sealed class SpanCollection : ICollection<Activity>
{
    private readonly List<Activity> _spans = [];
    private readonly Lock _lock = new();

    public List<Activity> InTrace(ActivityTraceId trace)
    {
        lock (_lock)
        {
            return [.. _spans.Where(s => s.TraceId == trace)];
        }
    }

    public void Add(Activity item)
    {
        lock (_lock)
        {
            _spans.Add(item);
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _spans.Count;
            }
        }
    }

    public bool IsReadOnly => false;
    public void Clear() => throw new NotSupportedException();
    public bool Contains(Activity item) => throw new NotSupportedException();
    public void CopyTo(Activity[] array, int arrayIndex) => throw new NotSupportedException();
    public bool Remove(Activity item) => throw new NotSupportedException();
    public IEnumerator<Activity> GetEnumerator() => throw new NotSupportedException();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>A task's creation, its delivery and its completion are one trace, which the agent is handed and continues;
/// certificate issuance and claims have spans; log lines carry the trace.</summary>
[Collection(ProcessWideListeners.Name)]
public sealed class TracingTests(TracedApp traced) : IClassFixture<TracedApp>
{
    public const string Caller = "test.caller";

    private TestApp App => traced.App;

    /// <summary>Runs <paramref name="call"/> in a new trace (as a caller that traces would), or continuing
    /// <paramref name="parent"/>; the test's HttpClient propagates it, as the client library and the agent do.</summary>
    private static async Task<(ActivityTraceId Trace, T Result)> InTrace<T>(Func<Task<T>> call, string? parent = null)
    {
        // Sampled, as a tracing caller's trace is: the service's sampler follows its parent's decision.
        using var caller = new Activity(Caller) { ActivityTraceFlags = ActivityTraceFlags.Recorded };
        if (parent is not null)
        {
            caller.SetParentId(parent);
        }

        caller.Start();
        return (caller.TraceId, await call());
    }

    /// <summary>The spans of the trace once those named have all ended, and the span each of them sits in. A span ends
    /// after its children, and the request around a completion ends after its answer went out: waiting for the names
    /// alone, a CI run read the trace before the completion's request had reached the exporter.</summary>
    private async Task<List<Activity>> SpansOf(ActivityTraceId trace, params string[] names)
    {
        static bool Ended(List<Activity> spans, string name) => spans.Any(s => s.DisplayName == name &&
            (s.ParentSpanId == default || spans.Any(parent => parent.SpanId == s.ParentSpanId)));

        await Poll.Until(() => traced.Spans.InTrace(trace) is var spans && names.All(n => Ended(spans, n)),
            $"spans {string.Join(", ", names)} and the spans they sit in, in trace {trace}");
        return traced.Spans.InTrace(trace);
    }

    private static Activity Named(List<Activity> spans, string name) => Assert.Single(spans, s => s.DisplayName == name);

    /// <summary>A task created in a trace of its own, and the heartbeat that delivered it.</summary>
    private async Task<(ActivityTraceId Trace, Guid TaskId, JsonElement Delivered)> CreateAndDeliverAsync(TestAgent agent)
    {
        var (trace, created) = await InTrace(async () => await (await App.AdminClient().PostJson("/api/v1/tasks",
            new { taskType = "docker.pull", agentId = agent.Id, payload = new { image = "myapp" } })).ShouldBe(HttpStatusCode.Created));
        var taskId = created.GetProperty("taskId").GetGuid();
        var heartbeat = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy" }))
            .ShouldBe(HttpStatusCode.OK);
        return (trace, taskId, Assert.Single(heartbeat.GetProperty("tasks").EnumerateArray()));
    }

    private static bool Descends(List<Activity> spans, Activity span, ActivitySpanId ancestor)
    {
        for (var parent = span.ParentSpanId; parent != default; parent = spans.FirstOrDefault(s => s.SpanId == parent)?.ParentSpanId ?? default)
        {
            if (parent == ancestor)
            {
                return true;
            }
        }

        return false;
    }

    [Fact]
    public async Task A_task_is_created_delivered_and_completed_in_the_trace_of_the_request_that_created_it()
    {
        var agent = await App.RegisterAgentAsync();

        var (trace, taskId, delivered) = await CreateAndDeliverAsync(agent);
        // The agent is handed the trace, and continues it on its completion.
        var handed = delivered.GetProperty("traceParent").GetString()!;
        Assert.Equal(trace, ActivityContext.Parse(handed, null).TraceId);
        var agentSpan = ActivitySpanId.CreateRandom();
        await InTrace(async () =>
        {
            agentSpan = Activity.Current!.SpanId;
            return await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{taskId}/complete",
                new { success = true, result = new { pulled = true } })).ShouldBe(HttpStatusCode.OK);
        }, parent: handed);

        var spans = await SpansOf(trace, "task.create", "task.dispatch", "task.complete");
        var create = Named(spans, "task.create");
        var dispatch = Named(spans, "task.dispatch");
        var complete = Named(spans, "task.complete");
        Assert.Equal(taskId.ToString(), create.GetTagItem("orchestrator.task.id")?.ToString());
        Assert.Equal("docker.pull", create.GetTagItem("orchestrator.task.type"));
        Assert.Equal(create.SpanId, dispatch.ParentSpanId);
        Assert.Equal("heartbeat", dispatch.GetTagItem("orchestrator.task.delivery"));
        Assert.Equal(agent.Id.ToString(), dispatch.GetTagItem("orchestrator.agent.id")?.ToString());
        Assert.Equal(dispatch.SpanId, ActivityContext.Parse(handed, null).SpanId);
        // The dispatch is linked to the heartbeat that carried it (a trace of its own).
        Assert.NotEqual(trace, Assert.Single(dispatch.Links).Context.TraceId);
        // The completion sits inside the agent's completion request, which continues the dispatch.
        var request = Assert.Single(spans, s => s.SpanId == complete.ParentSpanId);
        Assert.Equal(ActivityKind.Server, request.Kind);
        Assert.True(Descends(spans, request, agentSpan), "the completion request continues the agent's span");
        Assert.Equal("succeeded", complete.GetTagItem("orchestrator.task.status"));
    }

    [Fact]
    public async Task A_completion_that_does_not_carry_the_trace_still_joins_it_linked_to_its_request()
    {
        var agent = await App.RegisterAgentAsync();
        var (trace, taskId, _) = await CreateAndDeliverAsync(agent);

        var (otherTrace, _) = await InTrace(async () => await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/tasks/{taskId}/complete",
            new { success = false, result = new { error = "The container exited with code 3." } })).ShouldBe(HttpStatusCode.OK));

        var complete = Named(await SpansOf(trace, "task.complete"), "task.complete");
        Assert.Equal(Named(traced.Spans.InTrace(trace), "task.create").SpanId, complete.ParentSpanId);
        Assert.Equal(otherTrace, Assert.Single(complete.Links).Context.TraceId);
        Assert.Equal("failed", complete.GetTagItem("orchestrator.task.status"));
    }

    [Fact]
    public async Task Issuing_a_certificate_and_claiming_tasks_are_spans_of_their_requests()
    {
        var token = await App.CreateRegistrationTokenAsync();
        var name = SharedApps.Unique("agent");
        var (trace, registration) = await InTrace(async () => await (await App.Client().PostAsync("/api/v1/agents/register",
            TestAgents.JsonContent(new { name, version = "1.0.0" }, token))).ShouldBe(HttpStatusCode.Created));
        var agent = App.AgentFrom(registration, name);

        var issue = Named(await SpansOf(trace, "certificate.issue"), "certificate.issue");
        Assert.Equal(agent.Id.ToString(), issue.GetTagItem("orchestrator.agent.id")?.ToString());
        Assert.Equal("issued", issue.GetTagItem("orchestrator.certificate.reason"));

        await App.CreateTaskForAsync(agent.Id);
        var (heartbeatTrace, _) = await InTrace(async () => await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat",
            new { status = "healthy" })).ShouldBe(HttpStatusCode.OK));
        var claim = Named(await SpansOf(heartbeatTrace, "task.claim"), "task.claim");
        Assert.Equal(1, claim.GetTagItem("orchestrator.tasks.claimed"));
    }

    [Fact]
    public async Task A_rollout_batch_is_a_span_and_the_traces_of_its_tasks_start_there()
    {
        var fleet = await App.FleetAsync(1);
        var rolloutId = (await App.CreateRolloutAsync(new
        {
            name = "traced", taskType = "docker.pull", payload = new { image = "myapp" }, selector = fleet.Selector, strategy = new { batchSize = 1 },
        })).Id();
        await App.BatchStartedAsync(rolloutId, 1);

        var heartbeat = await (await fleet[0].Client.PostJson($"/api/v1/agents/{fleet[0].Id}/heartbeat", new { status = "healthy" }))
            .ShouldBe(HttpStatusCode.OK);
        var handed = Assert.Single(heartbeat.GetProperty("tasks").EnumerateArray()).GetProperty("traceParent").GetString()!;

        var spans = await SpansOf(ActivityContext.Parse(handed, null).TraceId, "rollout.batch", "task.dispatch");
        var batch = Named(spans, "rollout.batch");
        Assert.Equal(rolloutId.ToString(), batch.GetTagItem("orchestrator.rollout.id")?.ToString());
        Assert.Equal(1, batch.GetTagItem("orchestrator.rollout.batch"));
        Assert.Equal(batch.SpanId, Named(spans, "task.dispatch").ParentSpanId);
    }

    [Fact]
    public async Task Log_lines_written_during_a_request_carry_its_trace_id()
    {
        var (trace, _) = await InTrace(async () => await (await App.AdminClient().PostJson("/api/v1/tasks", new { taskType = "docker.pull" }))
            .ShouldBeProblem(HttpStatusCode.BadRequest));

        await Poll.Until(() => App.Logs.Events.Any(e => e.TraceId == trace), "a log line of the request with its trace id");
        Assert.NotNull(App.Logs.Events.First(e => e.TraceId == trace).SpanId);
    }
}

/// <summary>Tracing stays off unless an OTLP endpoint (or the setting) turns it on.</summary>
public sealed class TracingOffTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [Fact]
    public async Task Without_an_OTLP_endpoint_the_service_records_no_traces()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        Assert.Null(app.Services.GetService<TracerProvider>());
    }
}
