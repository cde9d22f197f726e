using Microsoft.Extensions.Time.Testing;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Foundation;

/// <summary>The schedule every background service runs on.</summary>
public sealed class BackgroundLoopTests
{
    /// <summary>A clock that moves on once between the loop reading it and making its timer, as a test advancing a fake
    /// clock (or a VM resuming) can: CI saw a liveness pass wait a whole period past its due time because of it.</summary>
    private sealed class MovesWhileATimerIsMade(FakeTimeProvider clock, TimeSpan by) : TimeProvider
    {
        private int _moved;

        public override DateTimeOffset GetUtcNow() => clock.GetUtcNow();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            if (Interlocked.Exchange(ref _moved, 1) == 0)
            {
                clock.Advance(by);
            }

            return clock.CreateTimer(callback, state, dueTime, period);
        }
    }

    [Fact]
    public async Task A_pass_that_fell_due_while_its_timer_was_made_runs_without_waiting_another_period()
    {
        var clock = new FakeTimeProvider(ClockApps.Start);
        var passes = 0;
        using var stop = new CancellationTokenSource();
        var loop = BackgroundLoop.RunAsync(TimeSpan.FromMinutes(1), new MovesWhileATimerIsMade(clock, TimeSpan.FromMinutes(1)), passAtStart: false,
            _ =>
            {
                Interlocked.Increment(ref passes);
                return Task.CompletedTask;
            }, _ => { }, stop.Token);

        await Poll.Until(() => Volatile.Read(ref passes) >= 1, "the pass that fell due");

        await stop.CancelAsync();
        await loop;
        Assert.Equal(1, Volatile.Read(ref passes));
    }
}
