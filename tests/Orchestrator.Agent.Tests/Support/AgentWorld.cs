using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.Support;

/// <summary>Service settings that make an agent's life short: 1 s heartbeats and polls, so revocation, fallback and
/// renewal show within seconds.</summary>
public static class FastAgents
{
    public static Dictionary<string, string?> Settings(IDictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Orchestrator:Agents:HeartbeatInterval"] = "00:00:01",
            ["Orchestrator:Agents:TaskPollInterval"] = "00:00:01",
            // A busy 2-core machine delays beats now and then; ten missed ones before offline keeps tests about agents, not load.
            ["Orchestrator:Agents:MissedHeartbeats"] = "10",
            ["Orchestrator:Tasks:MonitorInterval"] = "00:00:01",
            ["Orchestrator:Tasks:CancelGracePeriod"] = "00:00:20",
        };
        foreach (var (key, value) in more ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return settings;
    }
}

/// <summary>The real service on one store, its CA pinned in a file, and an operator client. Either the world's own
/// service (<see cref="StartAsync"/>: settings of its own, restarts) or a class's shared one (<see cref="SharedAgentApps"/>).</summary>
public sealed class AgentWorld : IAsyncDisposable
{
    // Null on a shared service: the fixture that started it stops it.
    private readonly TestStorage? _storage;

    private AgentWorld(TestStorage? storage, TestApp app, string caFile, OrchestratorClient operators)
    {
        _storage = storage;
        App = app;
        CaFile = caFile;
        Operators = operators;
    }

    public TestApp App { get; private set; }
    public string CaFile { get; }
    public OrchestratorClient Operators { get; private set; }

    public static async Task<AgentWorld> StartAsync(DatabaseProvider provider, IDictionary<string, string?>? settings = null,
        Action<Microsoft.Extensions.DependencyInjection.IServiceCollection>? services = null)
    {
        // The world owns the storage, so the service can stop and start again on it.
        var storage = await TestStorage.CreateAsync(provider);
        var app = TestApp.StartOn(storage, settings: FastAgents.Settings(settings), services: services);
        return await OnAsync(app, storage);
    }

    /// <summary>A world on a service someone else started and stops.</summary>
    public static Task<AgentWorld> OnAsync(TestApp app) => OnAsync(app, storage: null);

    private static async Task<AgentWorld> OnAsync(TestApp app, TestStorage? storage)
    {
        var caFile = Path.Combine(TempDirectories.New("orch-ca-"), "ca.pem");
        await File.WriteAllTextAsync(caFile, await app.Client().GetStringAsync("/api/v1/ca"));
        var operators = new OrchestratorClient(new OrchestratorClientOptions { Server = app.BaseAddress, Trust = ServerTrust.FromFile(caFile) }, TestApp.AdminKey);
        return new AgentWorld(storage, app, caFile, operators);
    }

    /// <summary>Stops the service and starts it again on the same storage and port (a restart under the agent).</summary>
    public async Task RestartServiceAsync(IDictionary<string, string?>? settings = null)
    {
        await StopServiceAsync();
        await StartServiceAsync(settings);
    }

    /// <summary>Stops the service (its port stays known, so <see cref="StartServiceAsync"/> comes back on it).</summary>
    public async Task StopServiceAsync()
    {
        _ = _storage ?? throw new InvalidOperationException("A shared service is not stopped: start a world of its own.");
        Operators.Dispose();
        await App.DisposeAsync();
    }

    /// <summary>Starts the service again on the world's storage and the port it had.</summary>
    public Task StartServiceAsync(IDictionary<string, string?>? settings = null)
    {
        var storage = _storage ?? throw new InvalidOperationException("A shared service is not restarted: start a world of its own.");
        App = TestApp.StartOn(storage, settings: FastAgents.Settings(new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>())
        {
            ["urls"] = $"https://127.0.0.1:{App.BaseAddress.Port}",
        }));
        Operators = new OrchestratorClient(new OrchestratorClientOptions { Server = App.BaseAddress, Trust = ServerTrust.FromFile(CaFile) }, TestApp.AdminKey);
        return Task.CompletedTask;
    }

    public async Task<string> TokenFileAsync(int maxUses = 1)
    {
        var created = await Operators.RegistrationTokens.CreateAsync(new CreateTokenRequest("agent test", null, maxUses, null));
        var file = Path.Combine(TempDirectories.New("orch-token-"), "token");
        await File.WriteAllTextAsync(file, created.Token + "\n");
        return file;
    }

    public AgentSettings Settings(string stateDir, string? tokenFile, Func<AgentSettings, AgentSettings>? change = null)
    {
        var settings = new AgentSettings
        {
            Server = App.BaseAddress,
            StateDir = stateDir,
            Token = tokenFile is null ? null : File.ReadAllText(tokenFile).Trim(),
            CaFile = CaFile,
            Name = $"agent-{Guid.NewGuid():N}"[..18],
            DetectCapabilities = false,
            GracePeriod = TimeSpan.FromSeconds(2),
            ShutdownTimeout = TimeSpan.FromSeconds(10),
            DockerHost = Environment.GetEnvironmentVariable("ORCHESTRATOR_TEST_DOCKER_HOST") ?? AgentSettings.DefaultDockerHost,
        };
        return change is null ? settings : change(settings);
    }

    public Task<TaskResponse> CreateTaskAsync(Guid agentId, string taskType, object? payload = null, Dictionary<string, string>? credentials = null,
        int? timeout = null) =>
        Operators.Tasks.CreateAsync(new CreateTaskRequest(taskType, payload is null ? null : JsonSerializer.SerializeToElement(payload), credentials,
            null, timeout, agentId, null, null));

    /// <summary>What the service logged about these ids and what the agent logged, as one timeline, oldest first. The
    /// heartbeats the service answered 200 are counted, not listed: one a second would push the lines that explain a
    /// failure out of the part of a long message a CI report shows (its end).</summary>
    private string TimelineAbout(RunningAgent? agent, params Guid[] ids)
    {
        var service = App.Logs.Events
            .Select(e => (At: e.Timestamp.UtcDateTime,
                Text: $"{e.Level} {e.RenderMessage()} {string.Join(' ', e.Properties.Select(p => $"{p.Key}={p.Value}"))}"))
            .Where(e => ids.Any(id => e.Text.Contains(id.ToString(), StringComparison.OrdinalIgnoreCase)))
            .ToList();
        var routine = service.RemoveAll(e => e.Text.Contains("/heartbeat\" responded 200", StringComparison.Ordinal));
        var lines = service.Select(e => (e.At, Text: $"service {e.Text}"))
            .Concat((agent?.Logs.Entries ?? []).Select(l => (l.At, Text: $"agent   {l.Line}")))
            .OrderBy(l => l.At)
            .Select(l => $"{l.At:HH:mm:ss.fff} {l.Text}");
        return $"{string.Join('\n', lines)}\n({routine} heartbeats answered 200 are left out)";
    }

    /// <summary>Waits for the task to end as a CI pipeline does (the service holds <c>?wait=</c> until the task is final: a
    /// signal, no polling), failing after <paramref name="within"/> with what the service and the agent logged about it.</summary>
    public async Task<TaskResponse> EndedAsync(Guid taskId, TimeSpan? within = null, RunningAgent? agent = null)
    {
        var limit = within ?? TimeSpan.FromSeconds(30);
        var task = await Operators.Tasks.WaitAsync(taskId, limit);
        Assert.True(task.Status.IsFinal(),
            $"What the service logged about the task and its agent, and what the agent logged:\n{TimelineAbout(agent, taskId, task.AgentId)}\n" +
            $"Task {taskId} is still {WireNames.Of(task.Status)} after {limit}: created {task.CreatedAt:HH:mm:ss.fff}, " +
            $"assigned {task.AssignedAt:HH:mm:ss.fff}, started {task.StartedAt:HH:mm:ss.fff}.");
        return task;
    }

    public async Task<TaskResponse> StatusAsync(Guid taskId, AgentTaskStatus status, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var task = await Operators.Tasks.GetAsync(taskId);
            if (task.Status == status)
            {
                return task;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Task {taskId} is {WireNames.Of(task.Status)}, not {WireNames.Of(status)}.");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Operators.Dispose();
        if (_storage is not null)
        {
            await App.DisposeAsync();
            _storage.Dispose();
        }
    }
}

/// <summary>One service per provider for a test class, with <see cref="FastAgents"/> settings, and a world on it:
/// <c>IClassFixture&lt;SharedAgentApps&gt;</c>, then <see cref="WorldFor"/> in each test. As with
/// <see cref="SharedApps"/>, each test runs its own agents and tasks and leaves the service as it found it.</summary>
public sealed class SharedAgentApps() : SharedApps(FastAgents.Settings())
{
    private readonly ConcurrentDictionary<DatabaseProvider, Lazy<Task<AgentWorld>>> _worlds = new();

    public Task<AgentWorld> WorldFor(DatabaseProvider provider) =>
        _worlds.GetOrAdd(provider, p => new Lazy<Task<AgentWorld>>(async () => await AgentWorld.OnAsync(await For(p)))).Value;

    public override async Task DisposeAsync()
    {
        foreach (var world in _worlds.Values.Where(w => w.IsValueCreated))
        {
            if (await world.Value.ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default))
            {
                await (await world.Value).DisposeAsync();
            }
        }

        await base.DisposeAsync();
    }
}

/// <summary>An agent running in this process (the real <see cref="AgentHost"/>, over real TLS), with its log lines.</summary>
public sealed class RunningAgent : IAsyncDisposable
{
    private readonly CancellationTokenSource _shutdown = new();

    private RunningAgent(AgentSettings settings)
    {
        Settings = settings;
        Host = new AgentHost(settings, LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(Logs)));
        Exit = Task.Run(() => Host.RunAsync(_shutdown.Token));
    }

    public AgentSettings Settings { get; }
    public AgentHost Host { get; }
    public Task<int> Exit { get; }
    public CapturedAgentLogs Logs { get; } = new();

    public static RunningAgent Start(AgentSettings settings) => new(settings);

    /// <summary>The agent's id once it runs (fails if the agent ended first).</summary>
    public async Task<Guid> StartedAsync()
    {
        var started = await Task.WhenAny(Host.Started, Exit.ContinueWith(_ => Guid.Empty, TaskScheduler.Default)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(Host.Started.IsCompletedSuccessfully, $"The agent did not start:\n{Logs}");
        return await started;
    }

    /// <summary>SIGTERM: drain and exit.</summary>
    public async Task<int> StopAsync(TimeSpan? within = null)
    {
        await _shutdown.CancelAsync();
        return await Exit.WaitAsync(within ?? TimeSpan.FromSeconds(30));
    }

    public async ValueTask DisposeAsync()
    {
        if (!Exit.IsCompleted)
        {
            await _shutdown.CancelAsync();
            try
            {
                await Exit.WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException)
            {
                // Reported by the test that left it running.
            }
        }
    }
}

public sealed class CapturedAgentLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<(DateTime At, string Line)> _lines = new();

    public IReadOnlyList<string> Lines => [.. _lines.Select(l => l.Line)];

    public IReadOnlyList<(DateTime At, string Line)> Entries => [.. _lines];

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    /// <summary>Every line with the time it was logged: what a failure message shows, so a slow step can be seen.</summary>
    public override string ToString() => string.Join('\n', _lines.Select(l => $"{l.At:HH:mm:ss.fff} {l.Line}"));

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedAgentLogs owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue((DateTime.UtcNow, $"{logLevel}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}"));
    }
}

internal static class JsonContentExtensions
{
    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string url, object body) => client.PostAsJsonAsync(url, body);
}
