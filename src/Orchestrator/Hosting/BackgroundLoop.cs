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

    /// <summary>The loop of a service that passes at start, whose first pass waits until the host has started (Kestrel
    /// listens). No request needs these passes, and on a small machine a start spent most of its CPU on them (first EF
    /// queries, JIT): run before, they held up readiness by a second. The schedule still counts from here.</summary>
    public static Task RunAfterStartAsync(
        IHostApplicationLifetime lifetime, TimeSpan interval, TimeProvider time, Func<CancellationToken, Task> pass,
        Action<Exception> failed, CancellationToken stopping) =>
        RunAsync(interval, time, passAtStart: true, pass, failed, wake: null, stopping, StartedAsync(lifetime, stopping));

    /// <summary>The same, also woken by requests on <paramref name="wake"/>.</summary>
    internal static Task RunAfterStartAsync(
        IHostApplicationLifetime lifetime, TimeSpan interval, TimeProvider time, Func<CancellationToken, Task> pass,
        Action<Exception> failed, ChannelReader<bool> wake, CancellationToken stopping) =>
        RunAsync(interval, time, passAtStart: true, pass, failed, wake, stopping, StartedAsync(lifetime, stopping));

    /// <summary>The loop, also woken by requests on <paramref name="wake"/> (see <see cref="ReloadLoop"/>): a pass runs
    /// as soon as one is waiting and answers every request made before it started; woken passes leave the schedule as
    /// it is. An <paramref name="interval"/> of <see cref="Timeout.InfiniteTimeSpan"/> schedules none, only woken ones.</summary>
    internal static async Task RunAsync(
        TimeSpan interval, TimeProvider time, bool passAtStart, Func<CancellationToken, Task> pass, Action<Exception> failed,
        ChannelReader<bool>? wake, CancellationToken stopping, Task? started = null)
    {
        var periodic = interval != Timeout.InfiniteTimeSpan;
        var next = time.GetUtcNow() + (passAtStart || !periodic ? TimeSpan.Zero : interval);
        try
        {
            if (started is not null)
            {
                await started;
            }

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

    /// <summary>Completes when the host has started; cancelled if it stops first.</summary>
    private static async Task StartedAsync(IHostApplicationLifetime lifetime, CancellationToken stopping)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStarted, stopping);
        try
        {
            await Task.Delay(Timeout.Infinite, either.Token);
        }
        catch (OperationCanceledException) when (lifetime.ApplicationStarted.IsCancellationRequested)
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
