using System.Collections.Frozen;
using System.Text.Json;
using Json.Schema;
using Orchestrator.Http;

namespace Orchestrator.Tasks;

/// <summary>The JSON Schema of the payload of each built-in task type (the reference agent's executors), checked when a
/// task is created so a task that cannot run is refused with a 400 naming the field instead of failing on the agent.
/// Other task types are the business of the agents that run them: their payloads are only required to be objects.
/// Unknown fields of a built-in type are refused too: a misspelt optional field ("detatch") would otherwise be ignored
/// without a word. The same schemas are published in the OpenAPI document (components <c>Payload.&lt;type&gt;</c>).</summary>
public static class PayloadSchemas
{
    private const string StringMap = """{ "type": "object", "additionalProperties": { "type": "string" } }""";
    private const string StringList = """{ "type": "array", "items": { "type": "string" } }""";
    private const string Image = """{ "type": "string", "minLength": 1, "description": "Image reference: name, name:tag or name@sha256:…" }""";

    /// <summary>Each built-in task type and its payload schema (JSON Schema 2020-12), as text.</summary>
    public static readonly FrozenDictionary<string, string> Texts = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["agent.noop"] = """
            { "type": "object", "description": "Completes at once; any payload is ignored." }
            """,
        ["docker.pull"] = $$"""
            {
              "type": "object", "required": ["image"], "additionalProperties": false,
              "properties": {
                "image": {{Image}},
                "tag": { "type": "string", "minLength": 1 },
                "digest": { "type": "string", "pattern": "^sha256:[0-9a-f]{64}$" }
              }
            }
            """,
        ["docker.run"] = $$"""
            {
              "type": "object", "required": ["image"], "additionalProperties": false,
              "properties": {
                "image": {{Image}},
                "tag": { "type": "string", "minLength": 1 },
                "detach": { "type": "boolean", "default": true, "description": "false: wait for the exit; success iff the exit code is 0." },
                "remove": { "type": "boolean", "description": "Remove the container when it ends (non-detached runs; default true)." },
                "pull": { "enum": ["missing", "always", "never"], "default": "missing" },
                "name": { "type": "string", "minLength": 1 },
                "replace": { "type": "boolean", "default": false, "description": "Stop and remove a container of the same name first (needs name)." },
                "command": {{StringList}},
                "env": {{StringMap}},
                "labels": {{StringMap}},
                "network": { "type": "string", "minLength": 1 },
                "ports": { "type": "array", "items": { "type": "string", "pattern": "^([0-9.]+:)?([0-9]+:)?[0-9]+(/(tcp|udp|sctp))?$" } }
              }
            }
            """,
        ["docker.stop"] = """
            {
              "type": "object", "required": ["container"], "additionalProperties": false,
              "properties": {
                "container": { "type": "string", "minLength": 1, "description": "Container id or name." },
                "timeoutSeconds": { "type": "integer", "minimum": 0, "maximum": 3600, "default": 10 },
                "remove": { "type": "boolean", "default": false }
              }
            }
            """,
        ["shell.run"] = $$"""
            {
              "type": "object", "required": ["command"], "additionalProperties": false,
              "properties": {
                "command": { "type": "array", "items": { "type": "string" }, "minItems": 1, "prefixItems": [{ "type": "string", "minLength": 1 }],
                             "description": "The program and its arguments; no shell unless the command names one." },
                "workingDirectory": { "type": "string", "minLength": 1 },
                "env": {{StringMap}}
              }
            }
            """,
        ["compose.up"] = Compose,
        ["compose.down"] = Compose,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private const string Compose = """
        {
          "type": "object", "required": ["project", "compose"], "additionalProperties": false,
          "properties": {
            "project": { "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$" },
            "compose": { "type": "string", "minLength": 1, "description": "The compose file, as YAML." },
            "env": { "type": "object", "additionalProperties": { "type": "string" } }
          }
        }
        """;

    // Built once per process: a schema is immutable and evaluation is thread-safe.
    private static readonly FrozenDictionary<string, JsonSchema> Schemas =
        Texts.ToFrozenDictionary(t => t.Key, t => JsonSchema.FromText(t.Value), StringComparer.Ordinal);

    private static readonly EvaluationOptions ListErrors = new() { OutputFormat = OutputFormat.List };

    public static bool IsBuiltIn(string taskType) => Schemas.ContainsKey(taskType);

    /// <summary>Adds a <c>payload.&lt;field&gt;</c> error for each way the payload breaks its type's schema; nothing for
    /// types that are not built in. A missing payload is checked as <c>{}</c>.</summary>
    public static Validation Check(string taskType, JsonElement? payload, Validation errors)
    {
        if (!Schemas.TryGetValue(taskType, out var schema))
        {
            return errors;
        }

        using var empty = payload is null ? JsonDocument.Parse("{}") : null;
        var instance = payload ?? empty!.RootElement;
        var results = schema.Evaluate(instance, ListErrors);
        if (results.IsValid)
        {
            return errors;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var detail in (results.Details ?? []).Prepend(results))
        {
            if (detail.Errors is not { Count: > 0 } found)
            {
                continue;
            }

            var path = detail.InstanceLocation.ToString().TrimStart('/').Split('/', StringSplitOptions.RemoveEmptyEntries)
                .Select(s => s.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToArray();
            foreach (var (keyword, message) in found)
            {
                var (field, text) = Describe(taskType, instance, path, keyword, message);
                if (seen.Add(field + "\n" + text))
                {
                    errors.Add(field, text);
                }
            }
        }

        return errors;
    }

    /// <summary>A message an operator can act on, naming the field the way they wrote it.</summary>
    private static (string Field, string Message) Describe(string taskType, JsonElement instance, string[] path, string keyword, string message)
    {
        var name = string.Join('.', path);
        var field = path.Length == 0 ? "payload" : $"payload.{name}";
        if (keyword == "required")
        {
            var missing = Properties(taskType, path, "required").Where(r => !Has(instance, path, r)).ToArray();
            return missing.Length == 1
                ? ($"payload.{Join(name, missing[0])}", $"Payload field '{Join(name, missing[0])}' is required for {taskType}.")
                : (field, $"Payload fields {string.Join(", ", missing.Select(m => $"'{Join(name, m)}'"))} are required for {taskType}.");
        }

        // A field the schema does not know: whatever keyword reported it (additionalProperties: false), say which exist.
        if (path.Length > 0 && Properties(taskType, path[..^1], "properties") is { Length: > 0 } known && !known.Contains(path[^1]))
        {
            return (field, $"Payload field '{name}' is not a field of {taskType}; its fields are: {string.Join(", ", known)}.");
        }

        return (field, path.Length == 0
            ? $"The payload of {taskType} is invalid: {message}"
            : $"Payload field '{name}' is invalid for {taskType}: {message}");

        static string Join(string parent, string child) => parent.Length == 0 ? child : $"{parent}.{child}";
    }

    private static bool Has(JsonElement instance, string[] path, string property)
    {
        foreach (var step in path)
        {
            if (instance.ValueKind != JsonValueKind.Object || !instance.TryGetProperty(step, out instance))
            {
                return false;
            }
        }

        return instance.ValueKind == JsonValueKind.Object && instance.TryGetProperty(property, out _);
    }

    /// <summary>The names under <paramref name="keyword"/> (<c>required</c> or <c>properties</c>) of the schema that
    /// describes the object at <paramref name="path"/>; none when the schema does not describe it.</summary>
    private static string[] Properties(string taskType, string[] path, string keyword)
    {
        using var document = JsonDocument.Parse(Texts[taskType]);
        var schema = document.RootElement;
        foreach (var step in path)
        {
            if (!schema.TryGetProperty("properties", out var properties) || !properties.TryGetProperty(step, out schema))
            {
                return [];
            }
        }

        if (!schema.TryGetProperty(keyword, out var found))
        {
            return [];
        }

        return found.ValueKind == JsonValueKind.Array
            ? [.. found.EnumerateArray().Select(r => r.GetString()!)]
            : [.. found.EnumerateObject().Select(p => p.Name)];
    }
}
