namespace Orchestrator.Cli.Commands;

/// <summary>What a wait waits for, redrawn on one line of stderr each second, for a person at a terminal only: when
/// output is redirected or piped (CI logs), nothing is drawn. Erased when the wait ends.</summary>
public sealed class WaitDisplay : IDisposable
{
    private readonly TextWriter _writer;
    private readonly Func<TimeSpan, string> _describe;
    private readonly Timer _timer;
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private readonly Lock _lock = new();
    private int _width;

    private WaitDisplay(TextWriter writer, Func<TimeSpan, string> describe)
    {
        _writer = writer;
        _describe = describe;
        _timer = new Timer(_ => Draw(), null, TimeSpan.Zero, TimeSpan.FromSeconds(1));
    }

    /// <summary>A display of <paramref name="describe"/> (given the time waited so far) at a terminal, else null.</summary>
    public static WaitDisplay? For(Invocation run, Func<TimeSpan, string> describe) =>
        run.Environment.OutputIsTerminal && run.Format != OutputFormat.Json ? new WaitDisplay(run.Error, describe) : null;

    private void Draw()
    {
        lock (_lock)
        {
            var text = _describe(DateTimeOffset.UtcNow - _started);
            _writer.Write($"\r{text.PadRight(_width)}");
            _writer.Flush();
            _width = text.Length;
        }
    }

    public void Dispose()
    {
        using var stopped = new ManualResetEvent(false);
        _timer.Dispose(stopped);
        stopped.WaitOne();
        lock (_lock)
        {
            _writer.Write($"\r{new string(' ', _width)}\r");
            _writer.Flush();
        }
    }
}
