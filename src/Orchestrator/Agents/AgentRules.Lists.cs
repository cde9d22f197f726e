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

        var before = errors.Count;
        errors.ValidateCapabilities(capabilities, field);
        if (errors.Count != before)
        {
            return null;
        }

        // Valid: known names without repeats, so sorting is all that normalising leaves to do.
        var sorted = new string[capabilities.Count];
        for (var i = 0; i < sorted.Length; i++)
        {
            sorted[i] = capabilities[i]!;
        }

        Array.Sort(sorted, StringComparer.Ordinal);
        return sorted;
    }

    /// <summary>The reference agent has seven; a plug-in agent may have more, but not without bound.</summary>
    public const int MaxTaskTypes = 64;

    /// <summary>Validates a reported task-type list and returns its sorted form, or null when absent or invalid.</summary>
    public static string[]? CheckTaskTypes(IReadOnlyList<string?>? taskTypes, string field, Validation errors)
    {
        if (taskTypes is null)
        {
            return null;
        }

        if (taskTypes.Count > MaxTaskTypes)
        {
            errors.Add(field, $"'{field}' may list at most {MaxTaskTypes} task types.");
            return null;
        }

        for (var i = 0; i < taskTypes.Count; i++)
        {
            if (!Tasks.TaskDefinition.IsTaskType(taskTypes[i]))
            {
                errors.Add($"{field}[{i}]",
                    "A task type is 1 to 128 letters, digits and . _ : / -, starting with a letter or digit.");
                return null;
            }
        }

        return Normalize(taskTypes!);
    }

    /// <summary>The stored form of a task-type list: null for none (offered every type).</summary>
    public static string? StoredTaskTypes(string[] taskTypes) => taskTypes.Length == 0 ? null : string.Join(',', taskTypes);

    public static string[] TaskTypesOf(string? stored) => stored is null ? [] : stored.Split(',');

    /// <summary>Why the agent (<paramref name="who"/>) cannot be given a task of <paramref name="taskType"/>, naming the
    /// types it runs; null when it runs the type or reported none (then it is offered every type).</summary>
    public static string? DoesNotRun(string who, string? storedTaskTypes, string taskType) =>
        storedTaskTypes is null || TaskTypesOf(storedTaskTypes).Contains(taskType, StringComparer.Ordinal)
            ? null
            : $"Agent {who} does not run task type '{taskType}'; it runs: {string.Join(", ", TaskTypesOf(storedTaskTypes))}.";

    /// <summary>What to say when agents match a selector but none runs <paramref name="taskType"/>: the types they run.</summary>
    public static string NoneRuns(IEnumerable<string?> storedTaskTypes, string taskType) =>
        $"No agent matching the selector runs task type '{taskType}'; the types they run: " +
        $"{string.Join(", ", storedTaskTypes.SelectMany(TaskTypesOf).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))}.";

    public static string[] Normalize(IEnumerable<string> capabilities) =>
        capabilities.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
}
