using System.Text;
using Serilog.Core;
using Serilog.Events;

namespace Orchestrator.Web;

/// <summary>CWE-117: every property value of every log event has its control characters (and the Unicode line and
/// paragraph separators) written as escapes (<c>\n</c>, <c>\u001b</c>), so a request path, an operator-chosen name or
/// anything an agent sent can never start a line of its own or colour the terminal. One enricher, run after all the
/// others, so log lines added later are covered too. Message templates are the code's own text and are left alone.</summary>
public sealed class LogValueEscaper : ILogEventEnricher
{
    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        List<LogEventProperty>? escaped = null;
        foreach (var (name, value) in logEvent.Properties)
        {
            var safe = Escape(value);
            if (!ReferenceEquals(safe, value))
            {
                (escaped ??= []).Add(new LogEventProperty(name, safe));
            }
        }

        foreach (var property in escaped ?? [])
        {
            logEvent.AddOrUpdateProperty(property);
        }
    }

    /// <summary>The same value when nothing needed escaping, so the common case allocates nothing.</summary>
    private static LogEventPropertyValue Escape(LogEventPropertyValue value)
    {
        switch (value)
        {
            case ScalarValue { Value: string text }:
                return NeedsEscaping(text) ? new ScalarValue(Escape(text)) : value;
            case ScalarValue { Value: { } other } when other is not ValueType:
                // Rendered with ToString (a PathString, a Uri): escape what it will render as.
                var rendered = other.ToString() ?? string.Empty;
                return NeedsEscaping(rendered) ? new ScalarValue(Escape(rendered)) : value;
            case SequenceValue sequence:
                var elements = sequence.Elements.Select(Escape).ToList();
                return Changed(elements, sequence.Elements) ? new SequenceValue(elements) : value;
            case StructureValue structure:
                var values = structure.Properties.Select(p => Escape(p.Value)).ToList();
                var tag = structure.TypeTag is { } typeTag && NeedsEscaping(typeTag) ? Escape(typeTag) : structure.TypeTag;
                return Changed(values, structure.Properties.Select(p => p.Value).ToList()) || !ReferenceEquals(tag, structure.TypeTag)
                    ? new StructureValue(structure.Properties.Select((p, i) => new LogEventProperty(p.Name, values[i])), tag)
                    : value;
            case DictionaryValue dictionary:
                var keys = dictionary.Elements.Select(e => (ScalarValue)Escape(e.Key)).ToList();
                var entries = dictionary.Elements.Select(e => Escape(e.Value)).ToList();
                return Changed(keys, dictionary.Elements.Select(e => e.Key).ToList()) ||
                       Changed(entries, dictionary.Elements.Select(e => e.Value).ToList())
                    ? new DictionaryValue(keys.Select((k, i) => new KeyValuePair<ScalarValue, LogEventPropertyValue>(k, entries[i])))
                    : value;
            default:
                return value;
        }
    }

    private static bool Changed<T>(IReadOnlyList<T> escaped, IReadOnlyList<T> original) where T : class =>
        escaped.Where((e, i) => !ReferenceEquals(e, original[i])).Any();

    private static bool IsUnsafe(char c) => char.IsControl(c) || c is '\u2028' or '\u2029';

    private static bool NeedsEscaping(string text) => text.AsSpan().IndexOfAny(UnsafeCharacters) >= 0;

    private static readonly System.Buffers.SearchValues<char> UnsafeCharacters = System.Buffers.SearchValues.Create(
        Enumerable.Range(0, 0x20).Concat(Enumerable.Range(0x7F, 0x21)).Select(c => (char)c).Append('\u2028').Append('\u2029').ToArray());

    private static string Escape(string text)
    {
        var escaped = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            escaped.Append(c switch
            {
                '\n' => @"\n",
                '\r' => @"\r",
                '\t' => @"\t",
                _ when IsUnsafe(c) => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }

        return escaped.ToString();
    }
}
