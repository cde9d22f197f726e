using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Orchestrator.Client.Tests;

/// <summary>A fake clock that says when the code under test starts waiting on it (each timer it creates, with the wait
/// asked for), so a test moves time only once the wait is armed.</summary>
public sealed class WatchedClock(DateTimeOffset start) : TimeProvider
{
    private readonly Channel<TimeSpan> _waits = Channel.CreateUnbounded<TimeSpan>();
    private readonly FakeTimeProvider _fake = new(start);

    public override DateTimeOffset GetUtcNow() => _fake.GetUtcNow();

    public override long GetTimestamp() => _fake.GetTimestamp();

    public override long TimestampFrequency => _fake.TimestampFrequency;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = _fake.CreateTimer(callback, state, dueTime, period);
        _waits.Writer.TryWrite(dueTime);
        return timer;
    }

    /// <summary>The next wait the code under test starts (how long it asked for).</summary>
    public async Task<TimeSpan> NextWaitAsync()
    {
        using var timeout = new CancellationTokenSource(Testing.Poll.DefaultTimeout);
        return await _waits.Reader.ReadAsync(timeout.Token);
    }

    public void Advance(TimeSpan by) => _fake.Advance(by);
}
