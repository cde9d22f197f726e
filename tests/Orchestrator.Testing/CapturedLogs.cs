using System.Collections.Concurrent;
using Serilog.Core;
using Serilog.Events;

namespace Orchestrator.Testing;

/// <summary>Every log event a test host wrote, rendered as the sinks would render it, with its properties.</summary>
public sealed class CapturedLogs : ILogEventSink
{
    private readonly ConcurrentQueue<LogEvent> _events = new();

    public void Emit(LogEvent logEvent) => _events.Enqueue(logEvent);

    public IReadOnlyList<LogEvent> Events => _events.ToArray();

    /// <summary>All text of all events: messages, properties and exceptions.</summary>
    public string AllText => string.Join('\n', _events.Select(e =>
        $"{e.RenderMessage()} {string.Join(' ', e.Properties.Select(p => $"{p.Key}={p.Value}"))} {e.Exception}"));
}
