namespace Orchestrator.Http;

/// <summary>A query parameter an endpoint reads, as its OpenAPI document declares it (Swagger.QueryParametersDeclared):
/// the type, the values or range allowed, and whether it repeats. Parameters the framework binds are documented from
/// their .NET type; this adds what that type cannot say (an enumeration read as text, a 0-60 range), and declares those
/// a handler reads from the query itself (paging, repeated filters).</summary>
public sealed record QueryParameter(string Name, string Description)
{
    public bool IsInteger { get; init; }
    public IReadOnlyList<string>? Allowed { get; init; }
    public int? Minimum { get; init; }
    public int? Maximum { get; init; }
    public bool IsUuid { get; init; }
    public bool Repeats { get; init; }

    public static readonly QueryParameter Limit =
        new("limit", $"How many to answer, 1-{Page.MaxLimit} (default {Page.DefaultLimit}).")
        {
            IsInteger = true, Minimum = 1, Maximum = Page.MaxLimit,
        };

    public static readonly QueryParameter After =
        new("after", "Where the page starts: the cursor in the previous page's Link header (rel=\"next\"), as given.");

    /// <summary><c>?wait=</c> of a task or rollout read.</summary>
    public static QueryParameter Wait(string what) =>
        new("wait", $"Seconds to wait for the {what} to end, 0-60 (whole seconds); answered at once without it.")
        {
            IsInteger = true, Minimum = 0, Maximum = 60,
        };

    /// <summary>A parameter whose values are an enumeration's, as written on the wire.</summary>
    public static QueryParameter OneOf<TEnum>(string name, string description) where TEnum : struct, Enum =>
        new(name, description) { Allowed = WireNames.All(typeof(TEnum)) };
}

public static class QueryParameters
{
    /// <summary>Declares the query parameters the endpoint reads.</summary>
    public static TBuilder WithQuery<TBuilder>(this TBuilder builder, params QueryParameter[] parameters)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata([.. parameters]);

    /// <summary>Declares <c>limit</c> and <c>after</c> (<see cref="Page"/>).</summary>
    public static TBuilder Paged<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithQuery(QueryParameter.Limit, QueryParameter.After);
}
