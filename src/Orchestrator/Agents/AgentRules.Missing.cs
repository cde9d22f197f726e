using System.Text.Json;
using Orchestrator.Http;

namespace Orchestrator.Agents;

/// <summary>The capabilities an agent looked for and did not find, each with the agent's reason: validated, sorted by
/// capability, and stored as one JSON object (null for none).</summary>
public static partial class AgentRules
{
    public const int MaxMissingCapabilities = 32;
    public const int MissingCapabilityMaxLength = 64;
    public const int MissingReasonMaxLength = 512;

    /// <summary>Validates a reported <c>missingCapabilities</c> object and returns it sorted, or null when absent or invalid.
    /// Keys are capability names (1-64 letters, digits, '.', '_', '-', starting with a letter or digit), values the
    /// reasons (1-512 characters).</summary>
    public static SortedDictionary<string, string>? CheckMissingCapabilities(
        IReadOnlyDictionary<string, string?>? missing, string field, Validation errors)
    {
        if (missing is null)
        {
            return null;
        }

        if (missing.Count > MaxMissingCapabilities)
        {
            errors.Add(field, $"'{field}' may name at most {MaxMissingCapabilities} capabilities.");
            return null;
        }

        var before = errors.Count;
        var sorted = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, reason) in missing)
        {
            if (key.Length is 0 or > MissingCapabilityMaxLength || !NamePattern().IsMatch(key))
            {
                errors.Add($"{field}.{key}", $"Capability '{Shorten(key)}' in '{field}' must be 1-{MissingCapabilityMaxLength} letters, " +
                    "digits, '.', '_' and '-', starting with a letter or digit.");
            }
            else
            {
                errors.RequireText(reason, $"{field}.{key}", MissingReasonMaxLength);
                sorted[key] = reason!;
            }
        }

        return errors.Count == before ? sorted : null;
    }

    /// <summary>The stored form: the sorted object as JSON, null for none.</summary>
    public static string? StoredMissingCapabilities(IReadOnlyDictionary<string, string> missing) =>
        missing.Count == 0 ? null : JsonSerializer.Serialize(missing, WireJson.Options);

    public static Dictionary<string, string> MissingCapabilitiesOf(string? stored) =>
        stored is null ? [] : JsonSerializer.Deserialize<Dictionary<string, string>>(stored, WireJson.Options) ?? [];
}
