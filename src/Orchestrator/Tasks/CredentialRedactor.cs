namespace Orchestrator.Tasks;

/// <summary>Masks a task's credential values in text an agent sends back (completion logs, stream logs, progress
/// messages), so a secret an agent echoes is never stored or shown. One instance per task.</summary>
public sealed class CredentialRedactor
{
    public const string Mask = "[REDACTED]";

    /// <summary>Shorter values are not masked: a one- or two-character value would shred every line it appears
    /// in, and is no secret worth the name.</summary>
    public const int MinimumLength = 3;

    public static readonly CredentialRedactor None = new([]);

    private readonly string[] _values;

    public CredentialRedactor(IEnumerable<string> values) =>
        // Longest first, so a value that contains another is masked whole.
        _values = [.. values.Where(v => v.Length >= MinimumLength).Distinct(StringComparer.Ordinal).OrderByDescending(v => v.Length)];

    public static CredentialRedactor For(IReadOnlyDictionary<string, string>? credentials) =>
        credentials is null || credentials.Count == 0 ? None : new CredentialRedactor(credentials.Values);

    public bool IsEmpty => _values.Length == 0;

    public string Redact(string text)
    {
        foreach (var value in _values)
        {
            text = text.Replace(value, Mask, StringComparison.Ordinal);
        }

        return text;
    }

    public string? RedactOrNull(string? text) => text is null ? null : Redact(text);
}
