using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Streams;

/// <summary>An agent's end of the task stream over real TLS: its certificate on the handshake, its token on the upgrade.</summary>
public sealed class StreamClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;

    private StreamClient(ClientWebSocket socket) => _socket = socket;

    public WebSocketState State => _socket.State;
    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;
    public string? CloseStatusDescription => _socket.CloseStatusDescription;

    public static async Task<StreamClient> ConnectAsync(TestApp app, TestAgent agent, Guid? route = null, bool withToken = true)
    {
        var socket = Socket(agent, withToken);
        await socket.ConnectAsync(Uri(app, route ?? agent.Id), CancellationToken.None);
        return new StreamClient(socket);
    }

    /// <summary>The HTTP status of a refused upgrade.</summary>
    public static async Task<HttpStatusCode> RefusedAsync(TestApp app, TestAgent agent, Guid? route = null, bool withToken = true)
    {
        using var socket = Socket(agent, withToken);
        socket.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(Uri(app, route ?? agent.Id), CancellationToken.None));
        return socket.HttpStatusCode;
    }

    public Task SendAsync(object message) => SendTextAsync(JsonSerializer.Serialize(message));

    public Task SendTextAsync(string text) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>One text message sent as a frame per part (a continuation for each part after the first).</summary>
    public async Task SendFramesAsync(params string[] parts)
    {
        for (var i = 0; i < parts.Length; i++)
        {
            await _socket.SendAsync(Encoding.UTF8.GetBytes(parts[i]), WebSocketMessageType.Text, endOfMessage: i == parts.Length - 1, CancellationToken.None);
        }
    }

    /// <summary>The next message; fails the test after the timeout.</summary>
    public async Task<JsonElement> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var buffer = new byte[256 * 1024];
        var length = 0;
        ValueWebSocketReceiveResult part;
        do
        {
            part = await _socket.ReceiveAsync(buffer.AsMemory(length), cancel.Token);
            length += part.Count;
        }
        while (!part.EndOfMessage);

        Assert.True(part.MessageType == WebSocketMessageType.Text, $"expected a message, got {part.MessageType} ({_socket.CloseStatus} {_socket.CloseStatusDescription})");
        return JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
    }

    /// <summary>Receives until a message of the type arrives (others, such as repeated cancellations, are skipped).</summary>
    public async Task<JsonElement> ReceiveAsync(string type, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var message = await ReceiveAsync(deadline - DateTime.UtcNow);
            if (message.GetProperty("type").GetString() == type)
            {
                return message;
            }
        }
    }

    /// <summary>Waits for the server to close the stream and returns its close code.</summary>
    public async Task<WebSocketCloseStatus?> ClosedAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var buffer = new byte[64 * 1024];
        while (_socket.State == WebSocketState.Open)
        {
            var result = await _socket.ReceiveAsync(buffer, cancel.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                break;
            }
        }

        return _socket.CloseStatus;
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Abort();
        _socket.Dispose();
        await Task.CompletedTask;
    }

    private static ClientWebSocket Socket(TestAgent agent, bool withToken)
    {
        var socket = new ClientWebSocket();
        socket.Options.ClientCertificates = [agent.Certificate];
        socket.Options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        if (withToken)
        {
            socket.Options.SetRequestHeader("Authorization", $"Bearer {agent.Token}");
        }

        return socket;
    }

    private static Uri Uri(TestApp app, Guid route) => new($"wss://{app.BaseAddress.Authority}/api/v1/agents/{route}/task-stream");
}
