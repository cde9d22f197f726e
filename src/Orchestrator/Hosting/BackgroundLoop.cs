namespace Orchestrator.Hosting;

/// <summary>The schedule every background service runs on: a pass every <c>interval</c> of the injected clock until
/// the host stops, a failing pass reported and the loop going on. Periods missed while a pass ran or while the clock
/// jumped (a resumed VM; <c>FakeTimeProvider.Advance</c> in tests) are owed one pass, not one each: a
/// <see cref="PeriodicTimer"/> on a fake clock advanced by a month fires for every missed period and ran a monitor half
/// a million times inside one test.</summary>
public static class BackgroundLoop
{
    public static async Task RunAsync(
        TimeSpan interval, TimeProvider time, bool passAtStart, Func<CancellationToken, Task> pass, Action<Exception> failed,
        CancellationToken stopping)
    {
        var next = time.GetUtcNow() + (passAtStart ? TimeSpan.Zero : interval);
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                var wait = next - time.GetUtcNow();
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, time, stopping);
                }

                var now = time.GetUtcNow();
                next = next + interval > now ? next + interval : now + interval;
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
}
