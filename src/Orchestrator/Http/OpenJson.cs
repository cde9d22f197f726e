using System.Text.Json;

namespace Orchestrator.Http;

/// <summary>Open JSON values: ones callers shape as they like (a task's <c>payload</c> and <c>result</c>, a target's
/// <c>properties</c>). Answers wrap them a few levels deep (a heartbeat answer: object, <c>tasks</c>, task, payload)
/// and the JSON writer stops at 64 levels, so a value the reader accepted at 63 could never be written back: every
/// answer carrying it failed. They are limited on the way in to <see cref="MaxDepth"/>, which leaves room for any
/// answer and is more than real payloads need. Sizes are limited per field (<c>Orchestrator:Tasks:MaxPayloadBytes</c>,
/// <c>MaxResultBytes</c>, 16 KiB of properties).</summary>
public static class OpenJson
{
    public const int MaxDepth = 32;

    /// <summary>Adds an error naming <paramref name="field"/> when the value nests deeper than <see cref="MaxDepth"/>.</summary>
    public static Validation RequireShallow(this Validation errors, JsonElement? value, string field) =>
        value is { } given && IsTooDeep(given) ? errors.Add(field, $"'{field}' is nested deeper than {MaxDepth} levels.") : errors;

    /// <summary>For stored values (rows an earlier version accepted deeper than the limit).</summary>
    public static bool IsTooDeep(string json)
    {
        using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
        return IsTooDeep(document.RootElement);
    }

    public static bool IsTooDeep(JsonElement value)
    {
        var pending = new Stack<(JsonElement Element, int Depth)>();
        pending.Push((value, 0));
        while (pending.TryPop(out var item))
        {
            var (element, depth) = item;
            if (element.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array))
            {
                continue;
            }

            if (++depth > MaxDepth)
            {
                return true;
            }

            if (element.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in element.EnumerateObject())
                {
                    pending.Push((property.Value, depth));
                }
            }
            else
            {
                foreach (var child in element.EnumerateArray())
                {
                    pending.Push((child, depth));
                }
            }
        }

        return false;
    }
}
