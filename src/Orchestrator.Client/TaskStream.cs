using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using Orchestrator.Contracts;

namespace Orchestrator.Client;

/// <summary>An open task stream. Receive on one loop; sends may come from any thread (they are serialised here).</summary>
public sealed class TaskStream : IAsyncDisposable
{
    /// <summary>The largest message read; the server's are far smaller (a task is at most ~80 KiB).</summary>
    private const int MaxMessageBytes = 1024 * 1024;

    private readonly ClientWebSocket _socket;
    private readonly AgentClient.Session _session;
    private readonly SemaphoreSlim _sending = new(1, 1);
    private int _disposed;

    internal TaskStream(ClientWebSocket socket, AgentClient.Session session)
    {
        _socket = socket;
        _session = session;
    }

    /// <summary>Why the server closed the stream, once it has (1008 revoked or flood, 4000 replaced, 1001 shutdown).</summary>
    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;
    public string? CloseStatusDescription => _socket.CloseStatusDescription;

    /// <summary>The credentials the stream was opened with.</summary>
    public AgentCredentials Credentials => _session.Credentials;

    /// <summary>The next server message: <see cref="TaskAssignedMessage"/>, <see cref="TaskCancelledMessage"/>,
    /// <see cref="TaskLogAckMessage"/> or <see cref="StreamErrorMessage"/> (other types are skipped, for forward compatibility); null once the stream has
    /// closed.</summary>
    public async Task<object?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        while (true)
        {
            buffer.ResetWrittenCount();
            ValueWebSocketReceiveResult part;
            do
            {
                if (buffer.WrittenCount > MaxMessageBytes)
                {
                    await CloseAsync(WebSocketCloseStatus.MessageTooBig, "Message too big.", CancellationToken.None);
                    return null;
                }

                part = await _socket.ReceiveAsync(buffer.GetMemory(16 * 1024), cancellationToken);
                if (part.MessageType == WebSocketMessageType.Close)
                {
                    await CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                    return null;
                }

                buffer.Advance(part.Count);
            }
            while (!part.EndOfMessage);

            if (part.MessageType == WebSocketMessageType.Text && Parse(buffer.WrittenSpan) is { } message)
            {
                return message;
            }
        }
    }

    /// <summary>Reads one server message; null for types this client does not know.</summary>
    public static object? Parse(ReadOnlySpan<byte> utf8)
    {
        var reader = new Utf8JsonReader(utf8);
        using var document = JsonDocument.ParseValue(ref reader);
        if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("type", out var type))
        {
            return null;
        }

        var json = OrchestratorJsonContext.Default;
        return type.GetString() switch
        {
            StreamMessageTypes.TaskAssigned => document.RootElement.Deserialize(json.TaskAssignedMessage),
            StreamMessageTypes.TaskCancelled => document.RootElement.Deserialize(json.TaskCancelledMessage),
            StreamMessageTypes.Error => document.RootElement.Deserialize(json.StreamErrorMessage),
            StreamMessageTypes.TaskLogAck => document.RootElement.Deserialize(json.TaskLogAckMessage),
            _ => null,
        };
    }

    public Task SendProgressAsync(TaskProgressMessage message, CancellationToken cancellationToken = default) =>
        SendAsync(JsonSerializer.SerializeToUtf8Bytes(message, OrchestratorJsonContext.Default.TaskProgressMessage), cancellationToken);

    public Task SendLogAsync(TaskLogMessage message, CancellationToken cancellationToken = default) =>
        SendAsync(JsonSerializer.SerializeToUtf8Bytes(message, OrchestratorJsonContext.Default.TaskLogMessage), cancellationToken);

    private async Task SendAsync(byte[] message, CancellationToken cancellationToken)
    {
        await _sending.WaitAsync(cancellationToken);
        try
        {
            await _socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
        }
        finally
        {
            _sending.Release();
        }
    }

    /// <summary>Closes with a close frame (the server's handshake answer is not awaited past the token).</summary>
    public async Task CloseAsync(WebSocketCloseStatus status = WebSocketCloseStatus.NormalClosure, string reason = "",
        CancellationToken cancellationToken = default)
    {
        if (_socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }

        try
        {
            await _sending.WaitAsync(cancellationToken);
            try
            {
                await _socket.CloseOutputAsync(status, reason, cancellationToken);
            }
            finally
            {
                _sending.Release();
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer is gone already.
        }
    }

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _socket.Dispose();
            _session.Release();
            _sending.Dispose();
        }

        return ValueTask.CompletedTask;
    }
}
