using Orchestrator.Contracts;

namespace Orchestrator.Agent.Workers;

/// <summary>One task's output lines on their way to the server. Lines are redacted (every credential value of the task
/// becomes <c>***</c>) and cut to a length the server takes, then wait here until the <see cref="LogShipper"/> sends them
/// on the task stream. At most <c>capacity</c> lines wait: beyond that the oldest are dropped and counted, so a chatty
/// task cannot eat the agent's memory while the stream is down. Lines never sent go with the completion.</summary>
public sealed class TaskLog
{
    public const string Redacted = "***";
    public const int MaxLineLength = 4000;

    private readonly string[] _secrets;
    private readonly int _capacity;
    private readonly LinkedList<TaskLogEntry> _pending = new();
    private readonly LinkedList<string> _tail = new();
    private readonly Lock _lock = new();
    private readonly Action? _written;
    private int _dropped;
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

    /// <summary>When a line last went out on the stream (null: none did).</summary>
    public DateTime? LastSentAt { get; private set; }

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
                return _pending.Count > 0 || _dropped > 0;
            }
        }
    }

    /// <summary>The oldest waiting line written before <paramref name="writtenBefore"/> (a note about dropped lines
    /// first), marked as being sent; null when none is due.</summary>
    public TaskLogEntry? Peek(DateTime? writtenBefore = null)
    {
        lock (_lock)
        {
            if (_closed || (writtenBefore is { } due && _dropped == 0 && !(_pending.First?.Value.Timestamp <= due)))
            {
                return null;
            }

            _inFlight = true;
            if (_dropped > 0)
            {
                return new TaskLogEntry(Time.GetUtcNow().UtcDateTime, "warn",
                    $"[agent] {_dropped} log lines were dropped: more than {_capacity} waited while the stream was slow or down.");
            }

            return _pending.First?.Value;
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

    /// <summary>Removes what <see cref="Peek"/> returned, once it was sent.</summary>
    public void Sent()
    {
        lock (_lock)
        {
            DropInFlight();
        }
    }

    /// <summary>Every line not sent (at most <paramref name="max"/>, the newest), for the completion; no line goes on the
    /// stream after this. A line being sent right now stays with the stream (and counts as just sent).</summary>
    public List<TaskLogEntry> TakeUnsent(int max)
    {
        lock (_lock)
        {
            _closed = true;
            DropInFlight();

            var lines = new List<TaskLogEntry>();
            var keep = _pending.Count <= max && _dropped == 0 ? _pending.Count : Math.Min(_pending.Count, max - 1);
            var skipped = _pending.Count - keep + _dropped;
            if (skipped > 0)
            {
                lines.Add(new TaskLogEntry(Time.GetUtcNow().UtcDateTime, "warn", $"[agent] {skipped} earlier log lines were dropped."));
            }

            lines.AddRange(_pending.Skip(_pending.Count - keep));
            _pending.Clear();
            _dropped = 0;
            return lines;
        }
    }

    /// <summary>The line being sent counts as sent (call under the lock).</summary>
    private void DropInFlight()
    {
        if (!_inFlight)
        {
            return;
        }

        _inFlight = false;
        LastSentAt = Time.GetUtcNow().UtcDateTime;
        if (_dropped > 0)
        {
            _dropped = 0;
        }
        else if (_pending.Count > 0)
        {
            _pending.RemoveFirst();
        }
    }
}
