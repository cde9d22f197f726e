using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Orchestrator.Testing;

/// <summary>A fake clock that also says when code under test starts waiting on it (each timer it creates, with the
/// wait asked for), so a test moves time only once the wait is armed, and knows how long the wait was.</summary>
public sealed class WatchedTime(DateTimeOffset start) : TimeProvider
{
    private readonly Channel<TimeSpan> _waits = Channel.CreateUnbounded<TimeSpan>();

    public FakeTimeProvider Fake { get; } = new(start);

    public override DateTimeOffset GetUtcNow() => Fake.GetUtcNow();

    public override long GetTimestamp() => Fake.GetTimestamp();

    public override long TimestampFrequency => Fake.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => Fake.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = Fake.CreateTimer(callback, state, dueTime, period);
        _waits.Writer.TryWrite(dueTime);
        return timer;
    }

    /// <summary>The next wait the code under test starts (how long it asked for).</summary>
    public async Task<TimeSpan> NextWaitAsync()
    {
        using var timeout = new CancellationTokenSource(Poll.DefaultTimeout);
        return await _waits.Reader.ReadAsync(timeout.Token);
    }

    /// <summary>Whether the code under test has started a wait not yet taken by <see cref="NextWaitAsync"/>.</summary>
    public bool HasWaited => _waits.Reader.Count > 0;

    public void Advance(TimeSpan by) => Fake.Advance(by);
}
