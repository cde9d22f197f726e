namespace Orchestrator.Cli.Commands;

/// <summary>What a wait waits for, redrawn on one line of stderr each second, for a person at a terminal only: when
/// output is redirected or piped (CI logs), nothing is drawn. Erased when the wait ends.</summary>
public sealed class WaitDisplay : IDisposable
{
    private readonly TextWriter _writer;
    private readonly Func<TimeSpan, string> _describe;
    private readonly ITimer _timer;
    private readonly TimeProvider _time;
    private readonly DateTimeOffset _started;
    private readonly Lock _lock = new();
    private int _width;

    private WaitDisplay(TextWriter writer, Func<TimeSpan, string> describe, TimeProvider time)
    {
        _writer = writer;
        _describe = describe;
        _time = time;
        _started = time.GetUtcNow();
        _timer = time.CreateTimer(_ => Draw(), null, TimeSpan.Zero, TimeSpan.FromSeconds(1));
    }

    /// <summary>A display of <paramref name="describe"/> (given the time waited so far) at a terminal, else null.</summary>
    public static WaitDisplay? For(Invocation run, Func<TimeSpan, string> describe) =>
        run.Environment.OutputIsTerminal && run.Format != OutputFormat.Json ? new WaitDisplay(run.Error, describe, run.Environment.Time) : null;

    private void Draw()
    {
        lock (_lock)
        {
            var text = _describe(_time.GetUtcNow() - _started);
            _writer.Write($"\r{text.PadRight(_width)}");
            _writer.Flush();
            _width = text.Length;
        }
    }

    public void Dispose()
    {
        // Waits for a draw in progress, so the erase below is the last thing written.
        _timer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        lock (_lock)
        {
            _writer.Write($"\r{new string(' ', _width)}\r");
            _writer.Flush();
        }
    }
}
