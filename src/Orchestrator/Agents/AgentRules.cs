using System.Text.RegularExpressions;
using Orchestrator.Http;

namespace Orchestrator.Agents;

/// <summary>What an agent's name, version, capabilities and labels may be. Shared by registration, the operator's
/// PUT and the heartbeat, so an agent can never hold a value one of them would refuse.</summary>
public static partial class AgentRules
{
    /// <summary>The spec's capabilities.</summary>
    public static readonly IReadOnlySet<string> KnownCapabilities = new HashSet<string>(StringComparer.Ordinal)
    {
        "docker", "compose", "ssh", "winrm", "ecs", "nomad",
    };

    public const int NameMaxLength = 128;
    public const int VersionMaxLength = 64;
    public const int LabelKeyMaxLength = 63;
    public const int LabelValueMaxLength = 255;
    public const int MaxLabels = 64;

    public static Validation ValidateName(this Validation errors, string? name, string field = "name")
    {
        errors.RequireText(name, field, NameMaxLength);
        return name is not null && name.Length <= NameMaxLength && !string.IsNullOrWhiteSpace(name) && !NamePattern().IsMatch(name)
            ? errors.Add(field, $"'{field}' may contain letters, digits, '.', '_' and '-', starting with a letter or digit.")
            : errors;
    }

    public static Validation ValidateVersion(this Validation errors, string? version, string field = "version") =>
        errors.RequireText(version, field, VersionMaxLength);

    /// <summary>Each capability must be one of <see cref="KnownCapabilities"/>, without repeats.</summary>
    public static Validation ValidateCapabilities(this Validation errors, IReadOnlyList<string?>? capabilities, string field = "capabilities")
    {
        if (capabilities is null)
        {
            return errors;
        }

        for (var i = 0; i < capabilities.Count; i++)
        {
            var capability = capabilities[i];
            if (capability is null || !KnownCapabilities.Contains(capability))
            {
                errors.Add($"{field}[{i}]", $"'{field}[{i}]' must be one of {string.Join(", ", KnownCapabilities)}.");
            }
            else if (Repeats(capabilities, i))
            {
                errors.Add($"{field}[{i}]", $"'{field}[{i}]' repeats '{capability}'.");
            }
        }

        return errors;
    }

    // A nested loop rather than a set: the list is short (a handful of known names) and checked on every heartbeat.
    private static bool Repeats(IReadOnlyList<string?> capabilities, int index)
    {
        for (var earlier = 0; earlier < index; earlier++)
        {
            if (string.Equals(capabilities[earlier], capabilities[index], StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Keys: 1-63 of letters, digits, '.', '_', '-', '/', starting and ending with a letter or digit;
    /// values: at most 255 characters, no control characters; at most 64 labels.</summary>
    public static Validation ValidateLabels(this Validation errors, IReadOnlyDictionary<string, string?>? labels, string field = "labels")
    {
        if (labels is null)
        {
            return errors;
        }

        if (labels.Count > MaxLabels)
        {
            errors.Add(field, $"'{field}' may have at most {MaxLabels} labels.");
        }

        foreach (var (key, value) in labels)
        {
            if (key.Length is 0 or > LabelKeyMaxLength || !LabelKeyPattern().IsMatch(key))
            {
                errors.Add($"{field}.{key}", $"Label key '{Shorten(key)}' must be 1-{LabelKeyMaxLength} letters, digits, '.', '_', '-' or '/', " +
                    "starting and ending with a letter or digit.");
            }
            else if (value is null)
            {
                errors.Add($"{field}.{key}", $"Label '{key}' needs a value.");
            }
            else if (value.Length > LabelValueMaxLength || value.Any(char.IsControl))
            {
                errors.Add($"{field}.{key}",
                    $"Label '{key}' must have a value of at most {LabelValueMaxLength} characters without control characters.");
            }
        }

        return errors;
    }

    private static string Shorten(string value) => value.Length <= 70 ? value : value[..70] + "...";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$")]
    private static partial Regex LabelKeyPattern();
}
