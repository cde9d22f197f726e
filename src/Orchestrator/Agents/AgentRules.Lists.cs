using Orchestrator.Http;

namespace Orchestrator.Agents;

/// <summary>Capability lists as they are stored and compared: validated, sorted, without repeats.</summary>
public static partial class AgentRules
{
    /// <summary>More than the known capabilities can never be valid; refusing early keeps a hostile list cheap.</summary>
    public const int MaxCapabilities = 16;

    public static bool IsKnownCapability(string? value) => value is not null && KnownCapabilities.Contains(value);

    /// <summary>Validates a capability list and returns its stored form, or null when absent or invalid.</summary>
    public static string[]? CheckCapabilities(IReadOnlyList<string?>? capabilities, string field, Validation errors)
    {
        if (capabilities is null)
        {
            return null;
        }

        if (capabilities.Count > MaxCapabilities)
        {
            errors.Add(field, $"'{field}' may list at most {MaxCapabilities} capabilities.");
            return null;
        }

        var before = errors.Errors.Count;
        errors.ValidateCapabilities(capabilities, field);
        return errors.Errors.Count == before ? Normalize(capabilities!) : null;
    }

    public static string[] Normalize(IEnumerable<string> capabilities) =>
        capabilities.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
}
