using System.Net;
using Orchestrator.Contracts;

namespace Orchestrator.Client;

/// <summary>The API refused a request: its problem details (status, title, detail, and per-field errors on validation
/// problems). Every non-success answer surfaces as this one type.</summary>
public sealed class OrchestratorApiException : Exception
{
    public OrchestratorApiException(HttpStatusCode status, ProblemDocument problem, TimeSpan? retryAfter = null)
        : base(Describe(status, problem))
    {
        Status = status;
        Problem = problem;
        RetryAfter = retryAfter;
    }

    public HttpStatusCode Status { get; }
    public string Title => Problem.Title ?? Status.ToString();
    public string? Detail => Problem.Detail;

    /// <summary>Field name → messages, for validation problems (400).</summary>
    public IReadOnlyDictionary<string, string[]> Errors => Problem.Errors ?? [];
    public ProblemDocument Problem { get; }

    /// <summary>The server's <c>Retry-After</c>, when it sent one (transient trouble, rate limits).</summary>
    public TimeSpan? RetryAfter { get; }

    private static string Describe(HttpStatusCode status, ProblemDocument problem)
    {
        var text = $"{(int)status} {problem.Title ?? status.ToString()}";
        if (!string.IsNullOrEmpty(problem.Detail))
        {
            text += $": {problem.Detail}";
        }

        foreach (var (field, messages) in problem.Errors ?? [])
        {
            text += $" [{field}: {string.Join(" ", messages)}]";
        }

        return text;
    }
}
