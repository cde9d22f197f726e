using System.Collections;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Orchestrator.Http;

/// <summary>Says what was wrong with a request the framework could not bind, in the API's terms: the parameter or JSON
/// field by its wire name, what it must be, and for enumerations the values allowed. The framework's own words name
/// .NET types and method parameters ("Failed to bind parameter \"Guid id\"", "Implicit body inferred for parameter
/// …"), which mean nothing to a caller of the API. Values sent are never echoed.</summary>
internal static partial class BindingProblems
{
    /// <summary>The wording for a parameter binding failure, or null when the message is not one of the framework's.</summary>
    public static string? DescribeParameter(string message)
    {
        if (FailedToBind().Match(message) is { Success: true } failed)
        {
            return $"'{failed.Groups["name"].Value}' must be {Expected(failed.Groups["type"].Value)}.";
        }

        if (MissingBody().IsMatch(message))
        {
            return "This operation needs a JSON request body (Content-Type: application/json); none was sent.";
        }

        if (MissingParameter().Match(message) is { Success: true } missing)
        {
            return $"'{missing.Groups["name"].Value}' is required.";
        }

        return null;
    }

    /// <summary>The values allowed at a JSON path of the request body, when the field there is an enumeration.</summary>
    public static IReadOnlyList<string>? AllowedValues(Type? bodyType, string jsonPath)
    {
        var type = bodyType;
        foreach (var segment in jsonPath.TrimStart('$').Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var name = segment.Split('[')[0];
            var property = type?.GetProperties(BindingFlags.Public | BindingFlags.Instance).FirstOrDefault(p => WireName(p) == name);
            type = property is null ? null : ElementType(property.PropertyType);
        }

        type = type is null ? null : Nullable.GetUnderlyingType(type) ?? type;
        return type is { IsEnum: true } ? WireNames.All(type) : null;
    }

    private static string Expected(string typeName) => typeName.TrimEnd('?').Replace("Nullable<", "", StringComparison.Ordinal).TrimEnd('>') switch
    {
        "Guid" => "a UUID, such as 3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "int" or "Int32" or "long" or "Int64" => "a whole number",
        "bool" or "Boolean" => "true or false",
        "DateTime" or "DateTimeOffset" => "an ISO 8601 date and time, such as 2026-01-31T12:00:00Z",
        _ => "a valid value",
    };

    private static string WireName(PropertyInfo property) =>
        property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(property.Name);

    private static Type ElementType(Type type)
    {
        if (type == typeof(string) || !typeof(IEnumerable).IsAssignableFrom(type))
        {
            return type;
        }

        return type.IsArray ? type.GetElementType()! : type.GetGenericArguments().LastOrDefault() ?? type;
    }

    [GeneratedRegex("^Failed to bind parameter \"(?<type>[^ \"]+) (?<name>[^\"]+)\" from ")]
    private static partial Regex FailedToBind();

    [GeneratedRegex("^(Implicit body inferred for parameter .* but no body was provided|Required parameter \"[^\"]+\" was not provided from body)")]
    private static partial Regex MissingBody();

    [GeneratedRegex("^Required parameter \"(?<type>[^ \"]+) (?<name>[^\"]+)\" was not provided")]
    private static partial Regex MissingParameter();
}
