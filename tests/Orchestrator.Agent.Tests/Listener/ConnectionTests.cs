using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.Agent.Executors;
using Orchestrator.Agent.Identity;
using Orchestrator.Agent.Listener;
using Orchestrator.Agent.Tests.Support;
using Orchestrator.Agent.Workers;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.Listener;

/// <summary>The listener's connection parts on a clock that moves only when the test moves it, and only once the part
/// has armed its wait: the task stream's reconnects (<see cref="StreamConnection"/>) and the poll while the stream is
/// down (<see cref="TaskPoller"/>), against a real service over TLS or a port that drops every connection.</summary>
public sealed class ConnectionTests(SharedAgentApps apps) : IClassFixture<SharedAgentApps>, IAsyncDisposable
{
    private readonly WatchedTime _time = new(DateTimeOffset.UtcNow);
    private readonly string _state = TempDirectories.New("orch-connection-");
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _running = [];
    private int _heartbeatsAskedFor;

    [Fact]
    public async Task While_the_server_drops_every_connection_the_stream_is_tried_again_within_the_reconnect_ceiling_every_time()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var attempts = new SemaphoreSlim(0);
        _running.Add(Task.Run(async () =>
        {
            while (!_stopping.IsCancellationRequested)
            {
                using var accepted = await listener.AcceptTcpClientAsync(_stopping.Token);
                attempts.Release();
            }
        }));
        using var client = new AgentClient(new OrchestratorClientOptions { Server = new Uri($"https://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/") });
        client.UseCredentials(SelfSignedCredentials());
        var connection = Start(client);

        var waits = new List<TimeSpan>();
        for (var attempt = 1; attempt <= 8; attempt++)
        {
            Assert.True(await attempts.WaitAsync(Poll.DefaultTimeout), $"attempt {attempt} never came");
            var wait = await _time.NextWaitAsync();
            Assert.Equal(0, attempts.CurrentCount);
            waits.Add(wait);
            _time.Advance(wait);
        }

        Assert.Null(connection.Current);
        Assert.All(waits, w => Assert.InRange(w, TimeSpan.FromMilliseconds(100), StreamConnection.ReconnectCeiling + TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task A_stream_closed_for_renewed_credentials_is_reopened_at_once_with_them()
    {
        var (_, client, _, connection) = await OpenAsync();
        var first = connection.Current!;

        client.UseCredentials(client.Credentials! with { });
        await connection.ReopenAsync();
        await Poll.Until(() => connection.Current is { } open && !ReferenceEquals(open, first), "the stream to open again");

        Assert.False(_time.HasWaited, "The stream waited for a back-off before reopening with renewed credentials.");
        Assert.Same(client.Credentials, connection.Current!.Credentials);
    }

    /// <summary>An agent shutting down waits for the service to answer its close, which the service sends once it has
    /// stopped the stream. Exiting before that, an agent restarted at once could have a task created meanwhile claimed
    /// by its old connection and sent where nobody reads.</summary>
    [Fact]
    public async Task Closing_for_good_waits_for_the_services_answer_and_does_not_reconnect()
    {
        var (_, _, _, connection) = await OpenAsync();
        var stream = connection.Current!;
        var running = _running[^1];

        await connection.CloseAsync("The agent is shutting down.");

        Assert.Equal(WebSocketCloseStatus.NormalClosure, stream.CloseStatus);
        Assert.Equal("Closed by the agent.", stream.CloseStatusDescription);
        await running.WaitAsync(Poll.DefaultTimeout);
        Assert.Null(connection.Current);
        Assert.False(_time.HasWaited, "The stream waited to reconnect after closing for good.");
    }

    [Fact]
    public async Task A_stream_the_server_closes_on_a_deleted_agent_asks_for_a_heartbeat_and_backs_off()
    {
        var (world, _, agentId, connection) = await OpenAsync();

        await world.Operators.Agents.DeleteAsync(agentId);
        var wait = await _time.NextWaitAsync();

        Assert.True(_heartbeatsAskedFor > 0, "The closed stream did not ask for the heartbeat that finds out why.");
        Assert.Null(connection.Current);
        Assert.InRange(wait, TimeSpan.Zero, StreamConnection.ReconnectCeiling + TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task The_poller_fetches_waiting_tasks_only_while_the_stream_is_down()
    {
        var (world, client, agentId) = await RegisterAsync();
        var ledger = new TaskLedger();
        var streamUp = true;
        var poller = new TaskPoller(client, Dispatcher(client, ledger), ledger, () => streamUp, () => TimeSpan.FromSeconds(5), maxTasks: 2,
            () => _heartbeatsAskedFor++, _time, NullLogger.Instance);
        _running.Add(poller.RunAsync(_stopping.Token));
        var wait = await _time.NextWaitAsync();
        await client.HeartbeatAsync(new HeartbeatRequest("healthy", new HeartbeatResourceUsage(1, 1, 1), [], 0, null));
        var task = await world.CreateTaskAsync(agentId, "agent.noop");

        _time.Advance(wait);
        wait = await _time.NextWaitAsync();
        var whileUp = (await world.Operators.Tasks.GetAsync(task.TaskId)).Status;
        streamUp = false;
        _time.Advance(wait);
        await _time.NextWaitAsync();

        Assert.Equal(AgentTaskStatus.Pending, whileUp);
        Assert.NotEqual(AgentTaskStatus.Pending, (await world.Operators.Tasks.GetAsync(task.TaskId)).Status);
        Assert.InRange(wait, TimeSpan.FromSeconds(4.5), TimeSpan.FromSeconds(5.5));
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        foreach (var running in _running)
        {
            try
            {
                await running;
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }
        }

        _stopping.Dispose();
        Directory.Delete(_state, recursive: true);
    }

    private StreamConnection Start(AgentClient client)
    {
        var ledger = new TaskLedger();
        var connection = new StreamConnection(client, Dispatcher(client, ledger), ledger, new LogShipper(() => null, _time, NullLogger.Instance),
            () => Interlocked.Increment(ref _heartbeatsAskedFor), _time, NullLogger.Instance);
        _running.Add(connection.RunAsync(_stopping.Token));
        return connection;
    }

    /// <summary>A registered agent's stream connection, running, its stream open.</summary>
    private async Task<(AgentWorld World, AgentClient Client, Guid AgentId, StreamConnection Connection)> OpenAsync()
    {
        var (world, client, agentId) = await RegisterAsync();
        var connection = Start(client);
        await Poll.Until(() => connection.Current is not null, "the stream to open");
        return (world, client, agentId, connection);
    }

    private TaskDispatcher Dispatcher(AgentClient client, TaskLedger ledger) =>
        new([new NoopExecutor()], new CompletionOutbox(new StateDirectory(_state), client, _time, NullLogger.Instance),
            new LogShipper(() => null, _time, NullLogger.Instance), ledger, maxTasks: 2, TimeSpan.FromSeconds(10), Path.Combine(_state, "work"),
            _time, NullLogger.Instance);

    private async Task<(AgentWorld World, AgentClient Client, Guid AgentId)> RegisterAsync()
    {
        var world = await apps.WorldFor(DatabaseProvider.Sqlite);
        var client = new AgentClient(new OrchestratorClientOptions { Server = world.App.BaseAddress, Trust = ServerTrust.FromFile(world.CaFile) });
        var key = CertificateRequests.NewKey();
        var name = $"conn-{Guid.NewGuid():N}"[..16];
        var token = (await File.ReadAllTextAsync(await world.TokenFileAsync())).Trim();
        var registered = await client.RegisterAsync(token, new RegisterRequest(name, "1.0.0", [], null, CertificateRequests.CreatePem(key, name),
            ["agent.noop"]));
        client.UseCredentials(new AgentCredentials(registered.AgentId, CertificateRequests.WithKey(registered.Certificate.Cert, key), registered.Token));
        return (world, client, registered.AgentId);
    }

    private static AgentCredentials SelfSignedCredentials()
    {
        using var key = KeyStore.NewKey();
        using var certificate = new CertificateRequest("CN=nobody", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
        return new AgentCredentials(Guid.NewGuid(), TlsCertificates.ForTls(certificate), "token");
    }
}
