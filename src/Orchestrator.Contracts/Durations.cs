using System.Globalization;

namespace Orchestrator.Contracts;

/// <summary>The one way a person writes a length of time to the CLI and the agent: whole seconds (<c>300</c>), a number
/// with a unit (<c>90s</c>, <c>15m</c>, <c>2h</c>), or <c>hh:mm:ss</c> as the service's own configuration takes it.</summary>
public static class Durations
{
    public const string Syntax = "seconds, or a number with s, m or h (90s, 15m, 2h), or hh:mm:ss";

    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        text = text.Trim();
        if (text.Contains(':', StringComparison.Ordinal))
        {
            return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out duration) && duration >= TimeSpan.Zero;
        }

        var hasUnit = char.IsLetter(text[^1]);
        if (!int.TryParse(hasUnit ? text[..^1] : text, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            return false;
        }

        switch (hasUnit ? text[^1] : 's')
        {
            case 's':
                duration = TimeSpan.FromSeconds(value);
                return true;
            case 'm':
                duration = TimeSpan.FromMinutes(value);
                return true;
            case 'h':
                duration = TimeSpan.FromHours(value);
                return true;
            default:
                return false;
        }
    }

    /// <summary>The refusal of <paramref name="text"/> for <paramref name="flag"/>, naming the syntax.</summary>
    public static string Error(string flag, string? text) => $"{flag} must be {Syntax}, not '{text}'.";
}
