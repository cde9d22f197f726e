using System.Threading.Channels;

namespace Orchestrator.Hosting;

/// <summary>The schedule every background service runs on: a pass every <c>interval</c> of the injected clock until
/// the host stops, a failing pass reported and the loop going on. Periods missed while a pass ran or while the clock
/// jumped (a resumed VM; <c>FakeTimeProvider.Advance</c> in tests) are owed one pass, not one each: a
/// <see cref="PeriodicTimer"/> on a fake clock advanced by a month fires for every missed period and ran a monitor half
/// a million times inside one test.</summary>
public static class BackgroundLoop
{
    public static Task RunAsync(
        TimeSpan interval, TimeProvider time, bool passAtStart, Func<CancellationToken, Task> pass, Action<Exception> failed,
        CancellationToken stopping) =>
        RunAsync(interval, time, passAtStart, pass, failed, wake: null, stopping);

    /// <summary>The loop, also woken by requests on <paramref name="wake"/> (see <see cref="ReloadLoop"/>): a pass runs
    /// as soon as one is waiting and answers every request made before it started; woken passes leave the schedule as
    /// it is. An <paramref name="interval"/> of <see cref="Timeout.InfiniteTimeSpan"/> schedules none, only woken ones.</summary>
    internal static async Task RunAsync(
        TimeSpan interval, TimeProvider time, bool passAtStart, Func<CancellationToken, Task> pass, Action<Exception> failed,
        ChannelReader<bool>? wake, CancellationToken stopping)
    {
        var periodic = interval != Timeout.InfiniteTimeSpan;
        var next = time.GetUtcNow() + (passAtStart || !periodic ? TimeSpan.Zero : interval);
        try
        {
            var first = passAtStart;
            while (!stopping.IsCancellationRequested)
            {
                var scheduled = first;
                first = false;
                if (!scheduled)
                {
                    var wait = periodic ? next - time.GetUtcNow() : Timeout.InfiniteTimeSpan;
                    scheduled = wait != Timeout.InfiniteTimeSpan && wait <= TimeSpan.Zero ||
                                !await WaitAsync(wait, periodic ? next : null, time, wake, stopping);
                }

                if (scheduled && periodic)
                {
                    var now = time.GetUtcNow();
                    next = next + interval > now ? next + interval : now + interval;
                }

                // Whatever was requested until now, this pass answers.
                wake?.TryRead(out _);
                try
                {
                    await pass(stopping);
                }
                catch (Exception ex) when (!stopping.IsCancellationRequested)
                {
                    failed(ex);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>Waits out <paramref name="wait"/> (until <paramref name="due"/>), or until a request arrives: true when a
    /// request ended the wait.</summary>
    private static async Task<bool> WaitAsync(
        TimeSpan wait, DateTimeOffset? due, TimeProvider time, ChannelReader<bool>? wake, CancellationToken stopping)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var elapsed = Task.Delay(wait, time, either.Token);
        // A timer counts from the clock's time when it is made. Had the clock passed the due time between the caller
        // reading it and the timer being made (a test advancing a fake clock, a VM resuming), the timer would wait a whole
        // period too long: a pass that is due runs now.
        var overdue = due is { } at && time.GetUtcNow() >= at;
        var woken = overdue || wake is null ? Task.Delay(Timeout.Infinite, either.Token) : wake.WaitToReadAsync(either.Token).AsTask();
        var ended = overdue ? elapsed : await Task.WhenAny(elapsed, woken);
        await either.CancelAsync();
        try
        {
            await Task.WhenAll(elapsed, woken);
        }
        catch (OperationCanceledException)
        {
            // The waits that lost (or were not needed), cancelled.
        }

        stopping.ThrowIfCancellationRequested();
        return ended == woken;
    }
}
