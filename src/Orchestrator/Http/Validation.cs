namespace Orchestrator.Http;

/// <summary>Collects field errors for one request and turns them into a 400 validation problem.</summary>
public sealed class Validation
{
    // Made on the first error: most requests are valid (a heartbeat validates on every beat), and they allocate nothing here.
    private Dictionary<string, List<string>>? _errors;

    public bool IsValid => _errors is null;

    /// <summary>How many messages were added: a check can tell whether it added any without building <see cref="Errors"/>.</summary>
    public int Count { get; private set; }

    public Validation Add(string field, string message)
    {
        _errors ??= new(StringComparer.Ordinal);
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }

        list.Add(message);
        Count++;
        return this;
    }

    public Validation Require(bool condition, string field, string message) => condition ? this : Add(field, message);

    public Validation RequireText(string? value, string field, int maxLength)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return Add(field, $"'{field}' is required.");
        }

        return value.Length > maxLength ? Add(field, $"'{field}' must be at most {maxLength} characters.") : this;
    }

    public Dictionary<string, string[]> Errors => _errors?.ToDictionary(e => e.Key, e => e.Value.ToArray()) ?? [];

    public Microsoft.AspNetCore.Http.HttpResults.ValidationProblem ToProblem() =>
        TypedResults.ValidationProblem(Errors, detail: Detail);

    /// <summary>The same field errors as a 422: the request is well-formed but names what cannot be used (an agent that
    /// does not exist, a selector nothing matches).</summary>
    public Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult ToUnprocessable() =>
        TypedResults.Problem(new HttpValidationProblemDetails(Errors)
        {
            Status = StatusCodes.Status422UnprocessableEntity,
            Title = "Unprocessable request",
            Detail = Detail,
        });

    private string Detail => string.Join(" ", (_errors ?? []).SelectMany(e => e.Value));
}
