using System.Text.RegularExpressions;
using Orchestrator.Http;

namespace Orchestrator.Agents;

/// <summary>What an agent's capabilities and labels may be, wherever they come from (registration, PUT, heartbeat).</summary>
public static partial class AgentRules
{
    /// <summary>The capabilities the spec names; anything else is rejected rather than silently stored.</summary>
    public static readonly IReadOnlySet<string> KnownCapabilities =
        new HashSet<string>(["docker", "compose", "ssh", "winrm", "ecs", "nomad"], StringComparer.Ordinal);

    public const int MaxCapabilities = 16;
    public const int MaxLabels = 64;
    public const int MaxLabelKeyLength = 63;
    public const int MaxLabelValueLength = 255;

    private static readonly string KnownList = string.Join(", ", KnownCapabilities.Order(StringComparer.Ordinal));

    public static bool IsKnownCapability(string? value) => value is not null && KnownCapabilities.Contains(value);

    /// <summary>Checks a capability list and returns it de-duplicated and sorted (the stored form).</summary>
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

        foreach (var capability in capabilities)
        {
            if (!IsKnownCapability(capability))
            {
                errors.Add(field, $"'{field}' may only contain {KnownList}.");
                return null;
            }
        }

        return Normalize(capabilities!);
    }

    public static string[] Normalize(IEnumerable<string> capabilities) =>
        capabilities.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Label keys look like Kubernetes label keys (letters, digits, <c>.-_/</c>, starting and ending
    /// alphanumeric), so they are safe in query strings and selectors; values are printable text.</summary>
    public static void CheckLabels(IReadOnlyDictionary<string, string?>? labels, string field, Validation errors)
    {
        if (labels is null)
        {
            return;
        }

        if (labels.Count > MaxLabels)
        {
            errors.Add(field, $"'{field}' may have at most {MaxLabels} labels.");
            return;
        }

        foreach (var (key, value) in labels)
        {
            if (key.Length is 0 or > MaxLabelKeyLength || !LabelKey().IsMatch(key))
            {
                errors.Add(field, $"Label key '{Shorten(key)}' must be 1-{MaxLabelKeyLength} letters, digits, '.', '-', '_' or '/', starting and ending with a letter or digit.");
            }
            else if (value is null || value.Length > MaxLabelValueLength || value.Any(char.IsControl))
            {
                errors.Add(field, $"The value of label '{key}' must be text of at most {MaxLabelValueLength} characters without control characters.");
            }
        }
    }

    private static string Shorten(string value) => value.Length <= 40 ? value : value[..40] + "...";

    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex LabelKey();
}
