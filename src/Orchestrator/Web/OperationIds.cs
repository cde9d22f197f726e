using System.Globalization;
using System.Text;

namespace Orchestrator.Web;

/// <summary>A stable <c>operationId</c> for every operation, made from its method and route so that generated clients get
/// the same method names from one version to the next without each endpoint naming itself: <c>GET /api/v1/tasks</c> is
/// <c>listTasks</c>, <c>POST /api/v1/tasks</c> <c>createTask</c>, <c>GET /api/v1/tasks/{taskId}</c> <c>getTask</c>,
/// <c>POST /api/v1/tasks/{taskId}/cancel</c> <c>cancelTask</c>. A test holds the whole list, so a change is deliberate.</summary>
public static class OperationIds
{
    /// <summary>Last route segments that are verbs: <c>POST …/{id}/drain</c> is <c>drainAgent</c>, not a creation.</summary>
    private static readonly HashSet<string> Actions = new(StringComparer.Ordinal)
    {
        "cancel", "complete", "drain", "heartbeat", "pause", "register", "renew", "resume", "rotate",
    };

    public static string For(string httpMethod, string relativePath)
    {
        var segments = relativePath.Split('?')[0].Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries).ToList();
        if (segments is ["api", "v1", ..])
        {
            segments.RemoveRange(0, 2);
        }

        // Words for the literal segments; one followed by a parameter names a single item of it.
        var words = new List<string>();
        for (var i = 0; i < segments.Count; i++)
        {
            if (IsParameter(segments[i]))
            {
                continue;
            }

            var single = i + 1 < segments.Count && IsParameter(segments[i + 1]);
            words.Add(single ? Singular(segments[i]) : segments[i]);
        }

        var endsWithParameter = segments.Count > 0 && IsParameter(segments[^1]);
        var method = httpMethod.ToUpperInvariant();
        if (method == "POST" && !endsWithParameter && words.Count > 0 && Actions.Contains(words[^1]))
        {
            // The action's object: the resource it acts on, singular (POST /agents/register registers one agent).
            var verb = words[^1];
            var target = words.Take(words.Count - 1).ToList();
            if (target.Count > 0)
            {
                target[^1] = Singular(target[^1]);
            }

            return Camel(verb, target);
        }

        var prefix = method switch
        {
            "GET" when endsWithParameter => "get",
            "GET" => words.Count > 0 && words[^1].EndsWith('s') ? "list" : "get",
            "POST" => "create",
            "PUT" or "PATCH" => "update",
            "DELETE" => "delete",
            _ => method.ToLowerInvariant(),
        };
        if (prefix == "create" && words.Count > 0)
        {
            words[^1] = Singular(words[^1]);
        }

        return Camel(prefix, words);
    }

    private static bool IsParameter(string segment) => segment.StartsWith('{');

    private static string Singular(string word) =>
        word.EndsWith("ies", StringComparison.Ordinal) ? word[..^3] + "y"
        : word.EndsWith("ses", StringComparison.Ordinal) ? word[..^2]
        : word.EndsWith('s') && !word.EndsWith("ss", StringComparison.Ordinal) ? word[..^1]
        : word;

    private static string Camel(string first, IEnumerable<string> words)
    {
        var id = new StringBuilder(first);
        foreach (var part in words.SelectMany(w => w.Split('-', '_', '.')).Where(p => p.Length > 0))
        {
            id.Append(char.ToUpper(part[0], CultureInfo.InvariantCulture)).Append(part.AsSpan(1));
        }

        return id.ToString();
    }
}
