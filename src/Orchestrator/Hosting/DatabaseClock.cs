namespace Orchestrator.Hosting;

/// <summary>The service's clock: this replica's own (registered under <see cref="ReplicaKey"/>), moved onto the
/// database's when the two differ by more than <c>Orchestrator:Database:MaxClockSkew</c> (<see cref="DatabaseClockCheck"/>
/// measures it at start). Replicas stamp heartbeats, hand-outs and status changes and judge liveness and timeouts with
/// this clock, so replicas whose own clocks differ still judge by one: a replica 30 s fast marked agents offline that
/// heartbeated on time through another, and timed out tasks after half their timeout. Durations (timers, delays,
/// timestamps) are the replica's own: an offset does not change how long a second is.</summary>
public sealed class DatabaseClock([FromKeyedServices(DatabaseClock.ReplicaKey)] TimeProvider replica) : TimeProvider
{
    /// <summary>The key of this replica's own clock in the container (the system clock; a test's fake one).</summary>
    public const string ReplicaKey = "replica";

    private long _offsetTicks;

    /// <summary>What is added to this replica's clock: zero unless the check found it off by more than the bound.</summary>
    public TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public override DateTimeOffset GetUtcNow() => replica.GetUtcNow() + Offset;

    public override long GetTimestamp() => replica.GetTimestamp();

    public override long TimestampFrequency => replica.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => replica.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        replica.CreateTimer(callback, state, dueTime, period);

    internal void AlignBy(TimeSpan offset) => Interlocked.Exchange(ref _offsetTicks, offset.Ticks);
}
