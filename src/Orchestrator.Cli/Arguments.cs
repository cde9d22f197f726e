using System.Globalization;
using System.Text.Json;
using Orchestrator.Contracts;

namespace Orchestrator.Cli;

/// <summary>Reading what users type: ids, key=value pairs, values from files (<c>@FILE</c>, <c>@-</c> for stdin),
/// selectors and durations. Every mistake is a <see cref="UsageException"/> that says what was expected.</summary>
public static class Arguments
{
    public static Guid Id(string text, string what) =>
        Guid.TryParse(text, out var id) ? id : throw new UsageException($"'{text}' is not {what} id (a UUID).");

    public static Guid? OptionalId(string? text, string what) => text is null ? null : Id(text, what);

    public static (string Key, string Value) Pair(string text, string flag)
    {
        var separator = text.IndexOf('=', StringComparison.Ordinal);
        return separator > 0 ? (text[..separator], text[(separator + 1)..]) : throw new UsageException($"{flag} must be key=value, not '{text}'.");
    }

    public static Dictionary<string, string> Pairs(IEnumerable<string>? texts, string flag)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var text in texts ?? [])
        {
            var (key, value) = Pair(text, flag);
            pairs[key] = value;
        }

        return pairs;
    }

    /// <summary><c>@FILE</c> is the file's content, <c>@-</c> standard input, anything else the text itself.</summary>
    public static string Text(string value, string flag, CliEnvironment environment)
    {
        if (!value.StartsWith('@'))
        {
            return value;
        }

        var path = value[1..];
        try
        {
            return path == "-" ? environment.In.ReadToEnd() : File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{flag}: cannot read {path}: {ex.Message}");
        }
    }

    /// <summary>A JSON object, given inline or as <c>@FILE</c>.</summary>
    public static JsonElement? JsonObject(string? value, string flag, CliEnvironment environment)
    {
        if (value is null)
        {
            return null;
        }

        var text = Text(value, flag, environment);
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? document.RootElement.Clone()
                : throw new UsageException($"{flag} must be a JSON object, not a {document.RootElement.ValueKind.ToString().ToLowerInvariant()}.");
        }
        catch (JsonException ex)
        {
            throw new UsageException($"{flag} is not valid JSON: {ex.Message}");
        }
    }

    /// <summary><c>name=value</c> or <c>name=@FILE</c> (a trailing newline of the file is dropped, as editors add one).</summary>
    public static Dictionary<string, string>? Credentials(IEnumerable<string>? texts, CliEnvironment environment)
    {
        var credentials = new Dictionary<string, string>(StringComparer.Ordinal);
        var fromStdin = 0;
        foreach (var text in texts ?? [])
        {
            var (name, value) = Pair(text, "--credential");
            if (value == "@-" && ++fromStdin > 1)
            {
                throw new UsageException("Only one --credential can be read from standard input (@-).");
            }

            credentials[name] = value.StartsWith('@') ? Text(value, $"--credential {name}", environment).TrimEnd('\r', '\n') : value;
        }

        return credentials.Count == 0 ? null : credentials;
    }

    /// <summary><c>env=prod,capability=docker</c>: labels the agent must all match (<c>KEY=VALUE</c>, or <c>label:KEY=VALUE</c>
    /// for a label whose key is <c>capability</c>) and capabilities it must all have; <paramref name="parts"/> as given
    /// (<see cref="CommandFactory.Selector"/>), each separated by commas.</summary>
    public static TaskSelector Selector(IEnumerable<string> parts)
    {
        var capabilities = new List<string>();
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in parts.SelectMany(p => p.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (part.StartsWith("capability=", StringComparison.Ordinal) && part.Length > "capability=".Length)
            {
                capabilities.Add(part["capability=".Length..]);
            }
            else if (part.StartsWith("label:", StringComparison.Ordinal))
            {
                var (key, value) = Pair(part["label:".Length..], "--selector label:");
                labels[key] = value;
            }
            else if (part.IndexOf('=', StringComparison.Ordinal) > 0)
            {
                var (key, value) = Pair(part, "--selector");
                labels[key] = value;
            }
            else
            {
                throw new UsageException($"--selector takes KEY=VALUE, capability=NAME and label:KEY=VALUE; '{part}' is none of them.");
            }
        }

        return capabilities.Count + labels.Count > 0
            ? new TaskSelector(capabilities.Count > 0 ? capabilities : null, labels.Count > 0 ? labels : null)
            : throw new UsageException("--selector needs at least one KEY=VALUE, capability=NAME or label:KEY=VALUE.");
    }

    /// <summary>A length of time in the one syntax of the CLI and the agent (<see cref="Durations"/>).</summary>
    public static TimeSpan Duration(string text, string flag) =>
        Durations.TryParse(text, out var duration) ? duration : throw new UsageException(Durations.Error(flag, text));

    /// <summary>An ISO-8601 time, or a duration from now (<c>30m</c>).</summary>
    public static DateTime Deadline(string text, string flag, DateTimeOffset now) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) && text.Contains('-')
            ? at.UtcDateTime
            : (now + Duration(text, flag)).UtcDateTime;
}
