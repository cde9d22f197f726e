using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.Json;
using Orchestrator.Streams;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Streams;

/// <summary>A service-side <see cref="AgentStream"/> that the registry does not hold, run over a plain WebSocket pair on
/// loopback, with the agent's end in the test's hands: for what a stream does before it is registered or after another
/// one replaced it, which a connection through the endpoint cannot be held at.</summary>
public sealed class DetachedStream : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly TcpClient _client;
    private readonly TcpClient _accepted;
    private readonly WebSocket _serverSide;
    private readonly WebSocket _agentSide;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private Task? _running;

    private DetachedStream(AgentStream stream, TcpListener listener, TcpClient client, TcpClient accepted)
    {
        Stream = stream;
        _listener = listener;
        _client = client;
        _accepted = accepted;
        _serverSide = WebSocket.CreateFromStream(accepted.GetStream(), isServer: true, subProtocol: null, TimeSpan.Zero);
        _agentSide = WebSocket.CreateFromStream(client.GetStream(), isServer: false, subProtocol: null, TimeSpan.Zero);
    }

    public AgentStream Stream { get; }

    /// <summary>A stream of <paramref name="agentId"/>, created (its first take queued) but not running yet.</summary>
    public static async Task<DetachedStream> CreateAsync(TestApp app, Guid agentId)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        var accepted = await listener.AcceptTcpClientAsync();
        return new DetachedStream(new AgentStream(agentId, "serial", app.Services), listener, client, accepted);
    }

    public void Run() => _running = Stream.RunAsync(_serverSide, CancellationToken.None);

    /// <summary>The type of the next message the stream sent.</summary>
    public async Task<string> ReceiveTypeAsync()
    {
        var received = await _agentSide.ReceiveAsync(_buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        using var json = JsonDocument.Parse(_buffer.AsMemory(0, received.Count));
        return json.RootElement.GetProperty("type").GetString()!;
    }

    /// <summary>Sends a binary frame and reads until its error answer, returning the types of what came before it. The
    /// answer is queued behind whatever the stream had queued (its first take, a nudge), so that work is done by then.</summary>
    public async Task<List<string>> SettledAsync()
    {
        await _agentSide.SendAsync(new byte[] { 1 }, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
        var before = new List<string>();
        for (var type = await ReceiveTypeAsync(); type != "error"; type = await ReceiveTypeAsync())
        {
            before.Add(type);
        }

        return before;
    }

    public async ValueTask DisposeAsync()
    {
        if (_running is not null)
        {
            Stream.Close(WebSocketCloseStatus.NormalClosure, "test over");
            await _agentSide.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            await _running.WaitAsync(TimeSpan.FromSeconds(30));
        }

        _agentSide.Dispose();
        _serverSide.Dispose();
        _accepted.Dispose();
        _client.Dispose();
        _listener.Dispose();
    }
}
