using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Orchestrator.Cli;

/// <summary>Columns padded to their widest cell, headers in capitals, as <c>kubectl get</c> prints them.</summary>
public sealed class Table(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public Table Add(params string?[] cells)
    {
        _rows.Add([.. cells.Select(c => string.IsNullOrEmpty(c) ? "-" : Output.OneLine(c))]);
        return this;
    }

    public void Write(TextWriter writer)
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, _rows.Select(r => r[i].Length).DefaultIfEmpty(0).Max())).ToArray();
        WriteRow(writer, headers, widths);
        foreach (var row in _rows)
        {
            WriteRow(writer, row, widths);
        }
    }

    private static void WriteRow(TextWriter writer, string[] cells, int[] widths)
    {
        var line = new StringBuilder();
        for (var i = 0; i < cells.Length; i++)
        {
            line.Append(i == cells.Length - 1 ? cells[i] : cells[i].PadRight(widths[i] + 3));
        }

        writer.WriteLine(line.ToString().TrimEnd());
    }
}

public static class Output
{
    private static readonly JsonWriterOptions Indented = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>One JSON answer of the API, indented (the values exactly as the API sent them).</summary>
    public static void WriteJson(TextWriter writer, byte[] answer)
    {
        using var document = JsonDocument.Parse(answer);
        WriteJson(writer, document.RootElement);
    }

    public static void WriteJson(TextWriter writer, JsonElement element)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, Indented))
        {
            element.WriteTo(json);
        }

        writer.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    /// <summary>The items of several JSON array answers (pages) as one array, at most <paramref name="limit"/> of them.</summary>
    public static void WriteJsonPages(TextWriter writer, IEnumerable<byte[]> pages, int? limit)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, Indented))
        {
            json.WriteStartArray();
            var written = 0;
            foreach (var page in pages)
            {
                using var document = JsonDocument.Parse(page);
                foreach (var item in document.RootElement.EnumerateArray())
                {
                    if (limit is { } max && written >= max)
                    {
                        break;
                    }

                    item.WriteTo(json);
                    written++;
                }
            }

            json.WriteEndArray();
        }

        writer.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    /// <summary>How long ago (or, for a future time, in how long), as kubectl's AGE column: 45s, 12m, 5h, 3d.</summary>
    public static string? Age(DateTime? at, DateTimeOffset now)
    {
        if (at is not { } value)
        {
            return null;
        }

        var span = now - DateTime.SpecifyKind(value, DateTimeKind.Utc);
        var text = Duration(span.Duration());
        return span < TimeSpan.Zero ? $"in {text}" : text;
    }

    public static string Duration(TimeSpan span) => span.TotalSeconds < 120 ? $"{(int)span.TotalSeconds}s"
        : span.TotalMinutes < 120 ? $"{(int)span.TotalMinutes}m"
        : span.TotalHours < 48 ? $"{(int)span.TotalHours}h"
        : $"{(int)span.TotalDays}d";

    /// <summary>ISO-8601 UTC to the second, as the API's times are.</summary>
    public static string? Time(DateTime? at) =>
        at?.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    public static string Join(IEnumerable<string>? values) => values is null ? "" : string.Join(",", values);

    public static string Labels(IReadOnlyDictionary<string, string>? labels) =>
        labels is null ? "" : string.Join(",", labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"));

    /// <summary>Cells and log lines stay on one line: control characters (an agent's or a user's text) become spaces.</summary>
    public static string OneLine(string text) =>
        text.Any(char.IsControl) ? new string([.. text.Select(c => char.IsControl(c) ? ' ' : c)]) : text;
}
