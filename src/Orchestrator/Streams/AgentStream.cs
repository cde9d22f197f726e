using System.Buffers;
using System.Net.WebSockets;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Orchestrator.Tasks;

namespace Orchestrator.Streams;

/// <summary>One agent's open task stream. A single writer loop owns all sends (tasks, cancellations, errors), so
/// events from other threads only enqueue; the reader loop handles the agent's messages.</summary>
public sealed class AgentStream
{
    public const WebSocketCloseStatus Replaced = (WebSocketCloseStatus)4000;

    // How long a closing stream waits for the agent's side of the close handshake: a network wait, on the real clock.
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    private WebSocket _socket = null!;
    private readonly IServiceScopeFactory _scopes;
    private readonly StreamRegistry _registry;
    private readonly StreamOptions _options;
    private readonly TaskOptions _taskOptions;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<Outbound> _outbound = Channel.CreateUnbounded<Outbound>(new UnboundedChannelOptions { SingleReader = true });
    private readonly HashSet<Guid> _cancellationsSent = [];
    private int _takeQueued;
    private int _taskCreated;
    private int _tickQueued;
    private (WebSocketCloseStatus Status, string Reason)? _closeWith;

    public AgentStream(Guid agentId, string certificateSerial, IServiceProvider services)
    {
        AgentId = agentId;
        CertificateSerial = certificateSerial;
        _scopes = services.GetRequiredService<IServiceScopeFactory>();
        _registry = services.GetRequiredService<StreamRegistry>();
        _options = services.GetRequiredService<IOptions<StreamOptions>>().Value;
        _taskOptions = services.GetRequiredService<IOptions<TaskOptions>>().Value;
        _time = services.GetRequiredService<TimeProvider>();
        _logger = services.GetRequiredService<ILogger<AgentStream>>();
        // Whatever the agent's last connection carried may have been lost with it (a stream replaced during a renewal, an
        // agent restarted with the same identity): its unstarted tasks go out again first, not a redelivery window later.
        // Queued here, before the registry can nudge the stream: queued after a nudge (a task created while the upgrade
        // was answered), this take sent the task the nudge had just sent a second time.
        _outbound.Writer.TryWrite(new Take(Periodic: true, Connected: true));
    }

    public Guid AgentId { get; }
    public string CertificateSerial { get; }

    private abstract record Outbound;

    private sealed record Send(byte[] Message) : Outbound;

    /// <param name="Periodic">A tick: the idle hint may be trusted, and cancellations go out again.</param>
    /// <param name="Connected">The stream's first take, or one <see cref="ResendUnstarted"/> asked for: tasks sent on
    /// another connection may never have arrived.</param>
    private sealed record Take(bool Periodic, bool Connected = false) : Outbound;

    /// <summary>Looks for deliverable work now. Bursts coalesce into one look. With <paramref name="taskCreated"/> (a
    /// task was created for this agent, not merely the agent changed or events may have been lost) the look claims
    /// first, so the new task goes out after one statement; a look with nothing new to claim reads the view alone.</summary>
    public void Nudge(bool taskCreated = false)
    {
        // Set before the take is queued, and read after the writer clears the queued mark: a nudge is never missed,
        // at worst a take claims first for a nudge whose own take then reads the view alone.
        if (taskCreated)
        {
            Volatile.Write(ref _taskCreated, 1);
        }

        if (Interlocked.Exchange(ref _takeQueued, 1) == 0)
        {
            _outbound.Writer.TryWrite(new Take(Periodic: false));
        }
    }

    /// <summary>Sends every task the agent has not started again, as on a new connection: another stream of the agent's,
    /// superseded by this one, claimed tasks after this one's first take (see <see cref="HandOverIfSuperseded"/>).</summary>
    public void ResendUnstarted() => _outbound.Writer.TryWrite(new Take(Periodic: false, Connected: true));

    public void TaskCancelled(Guid taskId) => _outbound.Writer.TryWrite(new Send(StreamMessages.Serialize(new TaskCancelledMessage(taskId))));

    /// <summary>Ends the stream with a close frame saying why (replaced, revoked, too big, flood, shutting down).
    /// The writer sends what is queued, then the close frame; the first reason given wins.</summary>
    public void Close(WebSocketCloseStatus status, string reason)
    {
        lock (_outbound)
        {
            _closeWith ??= (status, reason);
        }

        _outbound.Writer.TryComplete();
    }

    /// <summary>Runs on the accepted socket until the agent goes away, the connection dies, or <see cref="Close"/>.
    /// What was queued before (a nudge, a cancellation, a close) goes out first.</summary>
    public async Task RunAsync(WebSocket socket, CancellationToken requestAborted)
    {
        _socket = socket;
        // Started before the loops: a take can run to its end without yielding (SQLite answers synchronously), and a
        // clock that moved on meanwhile would start the ticks a whole period late (the fake clock of a test did).
        await using var ticker = StartTicking();
        // A cancelled receive or send aborts a WebSocket without a close frame, so the loops are not cancelled to
        // close the stream: the writer finishes with the close frame and the reader ends on the agent's answer.
        var reader = Ended(ReadLoopAsync(requestAborted));
        var writer = Ended(WriteLoopAsync(requestAborted));

        if (await Task.WhenAny(reader, writer) == writer && await Task.WhenAny(reader, Task.Delay(CloseTimeout, CancellationToken.None)) != reader)
        {
            _socket.Abort();
        }

        CloseByAgent();
        if (await Task.WhenAny(writer, Task.Delay(CloseTimeout, CancellationToken.None)) != writer)
        {
            _socket.Abort();
        }

        await Task.WhenAll(reader, writer);
    }

    private async Task ReadLoopAsync(CancellationToken stopping)
    {
        var bucket = new TokenBucket(_options.MessagesPerSecond, _options.Burst, _time);
        while (!stopping.IsCancellationRequested)
        {
            // An idle stream holds no receive buffer: a zero-byte receive waits for the next frame, and only then is a
            // buffer taken from the pool, for this message only. A buffer of MaxMessageBytes held by each of 10,000
            // mostly idle streams was 160 MB of a replica's memory (docs/benchmarks.md, "Many task streams").
            var first = await _socket.ReceiveAsync(Memory<byte>.Empty, stopping);
            if (first.MessageType == WebSocketMessageType.Close)
            {
                CloseByAgent();
                return;
            }

            var buffer = ArrayPool<byte>.Shared.Rent(_options.MaxMessageBytes + 1);
            try
            {
                if (!await ReadMessageAsync(buffer, first, bucket, stopping))
                {
                    return;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>Reads the rest of a message whose first frame has arrived, handles it and queues the answer; false when
    /// the stream is closing.</summary>
    private async Task<bool> ReadMessageAsync(byte[] buffer, ValueWebSocketReceiveResult first, TokenBucket bucket,
        CancellationToken stopping)
    {
        var limit = _options.MaxMessageBytes + 1;
        var length = 0;
        var part = first;
        while (!part.EndOfMessage)
        {
            if (length == limit)
            {
                CloseTooBig();
                return false;
            }

            part = await _socket.ReceiveAsync(buffer.AsMemory(length, limit - length), stopping);
            length += part.Count;
            if (part.MessageType == WebSocketMessageType.Close)
            {
                CloseByAgent();
                return false;
            }
        }

        if (length > _options.MaxMessageBytes)
        {
            CloseTooBig();
            return false;
        }

        if (!bucket.TryTake())
        {
            _logger.StreamFlooded(AgentId);
            Close(WebSocketCloseStatus.PolicyViolation, $"More than {_options.MessagesPerSecond} messages per second.");
            return false;
        }

        byte[]? answer;
        try
        {
            answer = part.MessageType == WebSocketMessageType.Text
                ? await HandleAsync(buffer.AsMemory(0, length), stopping)
                : StreamMessages.Serialize(new StreamErrorMessage("Messages must be JSON text frames."));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.StreamMessageNotRecorded(ex, AgentId);
            answer = StreamMessages.Serialize(new StreamErrorMessage("The message could not be recorded; send it again."));
        }

        if (answer is not null)
        {
            _outbound.Writer.TryWrite(new Send(answer));
        }

        return true;
    }

    private void CloseByAgent() => Close(WebSocketCloseStatus.NormalClosure, "Closed by the agent.");

    private void CloseTooBig() => Close(WebSocketCloseStatus.MessageTooBig, $"Messages may be at most {_options.MaxMessageBytes} bytes.");

    /// <summary>Records an agent message; the answer to send: an <c>error</c>, a <c>task_log_ack</c>, or null.</summary>
    private async Task<byte[]?> HandleAsync(ReadOnlyMemory<byte> message, CancellationToken stopping)
    {
        var (incoming, problem) = StreamMessages.Parse(message.Span, _taskOptions.MaxLogLineLength);
        if (incoming is null)
        {
            return StreamMessages.Serialize(problem);
        }

        await using var scope = _scopes.CreateAsyncScope();
        var tasks = scope.ServiceProvider.GetRequiredService<TaskCommands>();
        var result = incoming switch
        {
            StreamMessages.Progress p => await tasks.RecordProgressAsync(AgentId, p.TaskId, p.Value, p.Message, stopping),
            StreamMessages.Log l => await tasks.AppendLogsAsync(
                AgentId, l.TaskId, [new TaskLogEntry(_time.GetUtcNow().UtcDateTime, l.Level, l.Message)], l.Seq, stopping),
            _ => throw new InvalidOperationException("unreachable"),
        };
        if (result.Outcome == TaskOutcome.Ok)
        {
            await scope.ServiceProvider.GetRequiredService<TaskChanges>().PublishAsync(incoming.TaskId, ended: false);
            // A numbered line is acknowledged whether it was stored now, earlier, or not yet (a line before it is missing).
            return incoming is StreamMessages.Log { Seq: not null }
                ? StreamMessages.Serialize(new TaskLogAckMessage(incoming.TaskId, result.Task!.LastLogSeq ?? -1))
                : null;
        }

        return StreamMessages.Serialize<StreamErrorMessage>(result.Outcome switch
        {
            TaskOutcome.NotFound => new StreamErrorMessage($"Task {incoming.TaskId} does not exist.", incoming.TaskId),
            TaskOutcome.Forbidden => new StreamErrorMessage($"Task {incoming.TaskId} belongs to another agent.", incoming.TaskId),
            _ => new StreamErrorMessage(result.Detail ?? $"Task {incoming.TaskId} cannot take this message now.", incoming.TaskId),
        });
    }

    private async Task WriteLoopAsync(CancellationToken stopping)
    {
        var reader = _outbound.Reader;
        while (await reader.WaitToReadAsync(stopping))
        {
            while (reader.TryRead(out var item))
            {
                switch (item)
                {
                    case Send send:
                        await _socket.SendAsync(send.Message, WebSocketMessageType.Text, endOfMessage: true, stopping);
                        break;
                    case Take take when _closeWith is null:
                        var claimFirst = false;
                        if (take.Connected)
                        {
                            // Queued once (the first take) or asked for: no mark of a queued tick or nudge to clear.
                        }
                        else if (take.Periodic)
                        {
                            Interlocked.Exchange(ref _tickQueued, 0);
                        }
                        else
                        {
                            Interlocked.Exchange(ref _takeQueued, 0);
                            claimFirst = Interlocked.Exchange(ref _taskCreated, 0) == 1;
                        }

                        await TakeAndSendAsync(take.Periodic, take.Connected, claimFirst, stopping);
                        break;
                }
            }
        }

        await CloseSocketAsync();
    }

    /// <summary>Claims deliverable work exactly as a heartbeat does (same at-least-once and no-double-delivery rules)
    /// and sends it. A send that never arrives is covered by redelivery.</summary>
    private async Task TakeAndSendAsync(bool periodic, bool connected, bool claimFirst, CancellationToken stopping)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var delivery = scope.ServiceProvider.GetRequiredService<TaskDelivery>();
        AgentWork work;
        try
        {
            if (claimFirst)
            {
                // A task was created for this agent: it goes out after one statement, the claim; the usual take then
                // looks for cancellations (and anything that came meanwhile).
                var woken = await delivery.ClaimWokenAsync(AgentId, "stream", stopping);
                HandOverIfSuperseded(woken.Count);
                await SendAsync(woken, stopping);
            }

            work = await delivery.TakeForAgentAsync(AgentId, trustIdleHint: periodic, resendUnstarted: connected, "stream", stopping);
            HandOverIfSuperseded(work.Tasks.Count);
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or WebSocketException or ObjectDisposedException))
        {
            // The stream stays up; the next tick or event tries again. (A send that failed ends the stream.)
            _logger.StreamTakeFailed(ex, AgentId);
            return;
        }

        await SendAsync(work.Tasks, stopping);

        // Cancellations repeat on each periodic tick until the task ends (agents de-duplicate), and once per event.
        foreach (var taskId in work.CancelledTasks)
        {
            if (_cancellationsSent.Add(taskId) || periodic)
            {
                await _socket.SendAsync(StreamMessages.Serialize(new TaskCancelledMessage(taskId)), WebSocketMessageType.Text, true, stopping);
            }
        }
    }

    /// <summary>Called after a claim has committed. A stream found by an event just before its agent's newer stream
    /// replaced it (an agent restarted with the same identity whose old connection's end was not read yet: our agent
    /// waits for the close's answer, but one that crashed or lost its network cannot) can claim a task and send it where
    /// nobody reads. The newer stream's first take sends unstarted tasks again, but only those claimed before it looked:
    /// one claimed after that waited out the redelivery window, a minute by default. A stream no longer its agent's
    /// current one so asks the current one to send them again; with none registered yet, the next stream's first take,
    /// which starts after this claim has committed, finds them. The tasks still go out here too: a replaced stream of a
    /// running agent may still be read, and agents de-duplicate by id. Within this replica only: streams of one agent
    /// on two replicas do not know of each other.</summary>
    private void HandOverIfSuperseded(int claimed)
    {
        if (claimed > 0 && _registry.Current(AgentId) is { } current && !ReferenceEquals(current, this))
        {
            current.ResendUnstarted();
        }
    }

    private async Task SendAsync(IReadOnlyList<DeliveredTask> tasks, CancellationToken stopping)
    {
        // Written out before the first send, so a task that cannot be written never cuts the batch short.
        foreach (var message in tasks.Select(t => StreamMessages.Serialize(new TaskAssignedMessage(t))).ToList())
        {
            await _socket.SendAsync(message, WebSocketMessageType.Text, true, stopping);
        }
    }

    /// <summary>A periodic take, so an unstarted task goes out again soon after it becomes due for redelivery. A timer
    /// of the clock's, not a loop: a loop's linked token, delays and state machines were a kilobyte of each of 10,000
    /// idle streams (docs/benchmarks.md, "Many task streams"). Ticks that find one still queued add none: a clock that
    /// jumps (a resumed VM, a test's fake clock) owes one take, not one per missed period.</summary>
    private ITimer StartTicking()
    {
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(1).Ticks, _taskOptions.RedeliverAfter.Ticks / 2));
        return _time.CreateTimer(static state =>
        {
            var stream = (AgentStream)state!;
            if (Interlocked.Exchange(ref stream._tickQueued, 1) == 0)
            {
                stream._outbound.Writer.TryWrite(new Take(Periodic: true));
            }
        }, this, period, period);
    }

    private async Task CloseSocketAsync()
    {
        if (_socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }

        var (status, reason) = _closeWith ?? (WebSocketCloseStatus.EndpointUnavailable, "The stream ended.");
        try
        {
            await _socket.CloseOutputAsync(status, reason, CancellationToken.None);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer is already gone.
        }
    }

    private async Task Ended(Task loop)
    {
        try
        {
            await loop;
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // Normal ways for a stream to end: closed, replaced, or the connection died (keep-alive timeout).
        }
        catch (Exception ex)
        {
            _logger.StreamFailed(ex, AgentId);
        }
    }
}
