using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orchestrator.Http;

/// <summary>The one rule for text in requests, the same on both stores: control characters (U+0000–U+001F,
/// U+007F–U+009F) other than tab, line feed and carriage return are refused with a 400 naming the field. It is applied
/// in one place per channel: every JSON string and property name of a body (<see cref="RequestTextConverter"/>), every
/// query parameter (<see cref="UseRequestTextRules"/>), paging cursors, and stream messages. The one exception is
/// output an agent relays from the processes it runs (log lines, progress messages): it is kept as sent, terminal
/// colours included, except NUL, which no PostgreSQL text can hold and which becomes U+FFFD (<see cref="Relayed"/>).</summary>
public static class TextRules
{
    public const string Allowed = "control characters other than tab, line feed and carriage return are not allowed";

    private static readonly SearchValues<char> Refused = SearchValues.Create(
        [
            .. Enumerable.Range(0, 0x20).Where(c => c is not ('\t' or '\n' or '\r')).Select(c => (char)c),
            .. Enumerable.Range(0x7F, 0x21).Select(c => (char)c),
        ]);

    /// <summary>The first refused character, or null when the text follows the rule.</summary>
    public static char? FirstRefused(ReadOnlySpan<char> text)
    {
        var at = text.IndexOfAny(Refused);
        return at < 0 ? null : text[at];
    }

    /// <summary>What to tell the caller about <paramref name="field"/>, or null when its text follows the rule.</summary>
    public static string? Problem(string field, string? text) =>
        text is not null && FirstRefused(text) is { } refused ? $"'{field}' contains the control character U+{(int)refused:X4}; {Allowed}." : null;

    /// <summary>Relayed process output as it is stored: NUL becomes U+FFFD, everything else stays.</summary>
    public static string Relayed(string text) => text.Contains('\0', StringComparison.Ordinal) ? text.Replace('\0', '\uFFFD') : text;

    /// <summary>Answers 400 for a request whose query has a refused character in a parameter's name or value.</summary>
    public static WebApplication UseRequestTextRules(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            foreach (var (name, values) in context.Request.Query)
            {
                var problem = Problem(name, name) is not null
                    ? $"A query parameter name contains a control character; {Allowed}."
                    : values.Select(v => Problem(name, v)).FirstOrDefault(p => p is not null);
                if (problem is not null)
                {
                    await TypedResults.ValidationProblem(new Dictionary<string, string[]> { [name] = [problem] }, detail: problem)
                        .ExecuteAsync(context);
                    return;
                }
            }

            await next(context);
        });
        return app;
    }
}

/// <summary>Every string (and property name) read from a request body follows <see cref="TextRules"/>; a refused one
/// fails the read with the field's path, which the bad-request handler turns into a 400 naming it. Writing is the
/// built-in behaviour.</summary>
public sealed class RequestTextConverter : JsonConverter<string>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Checked(reader.TokenType == JsonTokenType.String ? reader.GetString() : throw new JsonException());

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);

    public override string ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Checked(reader.GetString())!;

    public override void WriteAsPropertyName(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WritePropertyName(value);

    private static string? Checked(string? text) =>
        text is not null && TextRules.FirstRefused(text) is { } refused
            ? throw new JsonException($"The text contains the control character U+{(int)refused:X4}; {TextRules.Allowed}.")
            : text;
}

/// <summary>For output an agent relays (log lines): read as sent; <see cref="TextRules.Relayed"/> applies where it is stored.</summary>
public sealed class RelayedTextConverter : JsonConverter<string>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String ? reader.GetString() : throw new JsonException();

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}
