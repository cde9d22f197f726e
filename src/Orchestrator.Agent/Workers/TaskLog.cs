using Orchestrator.Contracts;

namespace Orchestrator.Agent.Workers;

/// <summary>One task's output lines on their way to the server. Lines are redacted (every credential value of the task
/// becomes <c>***</c>) and cut to a length the server takes, then wait here until the <see cref="LogShipper"/> sends them
/// on the task stream. At most <c>capacity</c> lines wait: beyond that the oldest are dropped and counted, so a chatty
/// task cannot eat the agent's memory while the stream is down. A line gets its number (<c>seq</c>, from 0, never reused
/// within the task) when it first leaves, and is kept until the server acknowledges it (<c>task_log_ack</c>): lines sent
/// but not acknowledged go again on the next stream and with the completion, which the server stores once each.</summary>
public sealed class TaskLog
{
    public const string Redacted = "***";
    public const int MaxLineLength = 4000;

    private readonly string[] _secrets;
    private readonly int _capacity;
    private readonly LinkedList<TaskLogEntry> _pending = new();
    private readonly List<NumberedLine> _unacknowledged = [];
    private readonly LinkedList<string> _tail = new();
    private readonly Lock _lock = new();
    private readonly Action? _written;
    private int _dropped;
    private long _nextSeq;
    private int _sentOnThisStream;
    private bool _inFlight;
    private bool _closed;

    public TaskLog(Guid taskId, IEnumerable<string> secrets, int capacity = 2000, Action? written = null, TimeProvider? time = null)
    {
        TaskId = taskId;
        // Longest first, so a secret that contains another is masked whole. Very short values would mask ordinary text.
        _secrets = [.. secrets.Where(s => s.Length >= 3).Distinct(StringComparer.Ordinal).OrderByDescending(s => s.Length)];
        _capacity = capacity;
        _written = written;
        Time = time ?? TimeProvider.System;
    }

    public Guid TaskId { get; }
    private TimeProvider Time { get; }

    /// <summary>The last lines written (redacted), for a failure message.</summary>
    public IReadOnlyList<string> Tail
    {
        get
        {
            lock (_lock)
            {
                return [.. _tail];
            }
        }
    }

    public string Redact(string text)
    {
        foreach (var secret in _secrets)
        {
            text = text.Replace(secret, Redacted, StringComparison.Ordinal);
        }

        return text;
    }

    public void Write(string level, string message)
    {
        var line = Redact(message.TrimEnd('\r', '\n'));
        if (line.Length > MaxLineLength)
        {
            line = line[..MaxLineLength] + "…";
        }

        lock (_lock)
        {
            _pending.AddLast(new TaskLogEntry(Time.GetUtcNow().UtcDateTime, level, line));
            if (_pending.Count > _capacity)
            {
                _pending.RemoveFirst();
                _dropped++;
            }

            _tail.AddLast(line);
            if (_tail.Count > 20)
            {
                _tail.RemoveFirst();
            }
        }

        _written?.Invoke();
    }

    public void Info(string message) => Write("info", message);

    public void Error(string message) => Write("error", message);

    public bool HasPending
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count > 0 || _dropped > 0 || _sentOnThisStream < _unacknowledged.Count;
            }
        }
    }

    /// <summary>The next line to send, marked as being sent; null when none is due: first an unacknowledged line not yet
    /// sent on this stream, else the oldest waiting line written before <paramref name="writtenBefore"/> (a note about
    /// dropped lines first), which gets its number now.</summary>
    public NumberedLine? Peek(DateTime? writtenBefore = null)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return null;
            }

            if (_sentOnThisStream < _unacknowledged.Count)
            {
                _inFlight = true;
                return _unacknowledged[_sentOnThisStream];
            }

            if (writtenBefore is { } due && _dropped == 0 && !(_pending.First?.Value.Timestamp <= due))
            {
                return null;
            }

            if (NextWaiting() is not { } next)
            {
                return null;
            }

            _inFlight = true;
            _unacknowledged.Add(next);
            if (_unacknowledged.Count > _capacity)
            {
                // Never acknowledged (a server that does not number lines): the oldest sent ones count as delivered.
                _unacknowledged.RemoveAt(0);
                _sentOnThisStream = Math.Max(0, _sentOnThisStream - 1);
            }

            return next;
        }
    }

    /// <summary>What <see cref="Peek"/> returned could not be sent: it waits again.</summary>
    public void NotSent()
    {
        lock (_lock)
        {
            _inFlight = false;
        }
    }

    /// <summary>What <see cref="Peek"/> returned went out; it is kept until the server acknowledges it.</summary>
    public void Sent()
    {
        lock (_lock)
        {
            if (_inFlight)
            {
                _inFlight = false;
                _sentOnThisStream = Math.Min(_sentOnThisStream + 1, _unacknowledged.Count);
            }
        }
    }

    /// <summary>The server has every line up to <paramref name="seq"/>: they are not sent again.</summary>
    public void Acknowledged(long seq)
    {
        lock (_lock)
        {
            var done = _unacknowledged.FindIndex(l => l.Seq > seq) is var i and >= 0 ? i : _unacknowledged.Count;
            _unacknowledged.RemoveRange(0, done);
            _sentOnThisStream = Math.Max(0, _sentOnThisStream - done);
        }
    }

    /// <summary>A new stream: what the last one carried without an acknowledgement may never have arrived, so it goes again.</summary>
    public void Resend()
    {
        lock (_lock)
        {
            _sentOnThisStream = 0;
        }
    }

    /// <summary>Every line the server has not acknowledged (at most <paramref name="max"/>, the newest) for the completion,
    /// with the first one's number; no line goes on the stream after this. The lines follow on from the first number.</summary>
    public UnsentLines TakeUnsent(int max)
    {
        lock (_lock)
        {
            _closed = true;
            _inFlight = false;
            var all = _unacknowledged.Select(l => (Line: l, Count: 1)).ToList();
            var dropped = _dropped;
            while (NextWaiting() is { } next)
            {
                all.Add((next, next.Seq == _nextSeq - 1 && dropped > 0 && all.Count == _unacknowledged.Count ? dropped : 1));
            }

            _unacknowledged.Clear();
            if (all.Count <= max)
            {
                return new UnsentLines(all.Count == 0 ? null : all[0].Line.Seq, [.. all.Select(l => l.Line.Line)]);
            }

            // The note takes the number of the last line it stands for, so the numbers still follow on.
            var skipped = all.Count - (max - 1);
            var note = new TaskLogEntry(Time.GetUtcNow().UtcDateTime, "warn",
                $"[agent] {all.Take(skipped).Sum(l => l.Count)} earlier log lines were dropped.");
            return new UnsentLines(all[skipped - 1].Line.Seq, [note, .. all.Skip(skipped).Select(l => l.Line.Line)]);
        }
    }

    /// <summary>Numbers the next waiting line (the note about dropped lines first) and takes it off the waiting lines
    /// (call under the lock).</summary>
    private NumberedLine? NextWaiting()
    {
        if (_dropped > 0)
        {
            var note = new TaskLogEntry(Time.GetUtcNow().UtcDateTime, "warn",
                $"[agent] {_dropped} log lines were dropped: more than {_capacity} waited while the stream was slow or down.");
            _dropped = 0;
            return new NumberedLine(_nextSeq++, note);
        }

        if (_pending.First is not { } first)
        {
            return null;
        }

        _pending.RemoveFirst();
        return new NumberedLine(_nextSeq++, first.Value);
    }
}

/// <summary>A log line with its number within its task.</summary>
public sealed record NumberedLine(long Seq, TaskLogEntry Line);

/// <summary>The lines a completion carries, numbered from <c>FirstSeq</c> on (null when there are none).</summary>
public sealed record UnsentLines(long? FirstSeq, List<TaskLogEntry> Lines);
