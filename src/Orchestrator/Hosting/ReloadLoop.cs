using System.Threading.Channels;

namespace Orchestrator.Hosting;

/// <summary>Keeps an in-memory copy of stored state fresh (the CA roots, the revocation list, the token keys):
/// reloads when asked (a cluster event, a lost connection to the other replicas) and, if given a period, on that
/// schedule too, as a backstop for a lost event. Requests coalesce: however many arrive while a reload waits or runs,
/// they cause one more reload, never a task each. A failing reload is reported and the loaded copy kept; the next
/// request or period tries again. Built on <see cref="BackgroundLoop"/>.</summary>
public sealed class ReloadLoop
{
    private readonly Channel<bool> _requests = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });

    /// <summary>Asks for a reload soon. Never blocks and never throws, so it is safe in a cluster event handler.</summary>
    public void Request() => _requests.Writer.TryWrite(true);

    /// <summary>Requests a reload on every event of <paramref name="channel"/>, from any replica, and after a lost
    /// connection to the other replicas (events may have been missed). Dispose to stop.</summary>
    public IDisposable ReloadOn(IClusterEvents events, string channel) => events.Subscribe(channel, _ => Request(), Request);

    /// <summary>Runs until <paramref name="stopping"/>: <paramref name="reload"/> once per burst of requests, and every
    /// <paramref name="period"/> when one is given.</summary>
    public Task RunAsync(
        Func<CancellationToken, Task> reload, TimeSpan? period, TimeProvider time, Action<Exception> failed, CancellationToken stopping) =>
        BackgroundLoop.RunAsync(period ?? Timeout.InfiniteTimeSpan, time, passAtStart: false, reload, failed, _requests.Reader, stopping);
}
