using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Orchestrator.Http;

public static class WireJson
{
    /// <summary>camelCase, string enums and nothing lenient: numbers are numbers, unknown enum values fail, and text
    /// follows <see cref="TextRules"/>.</summary>
    public static void Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
        options.DictionaryKeyPolicy = null;
        options.NumberHandling = JsonNumberHandling.Strict;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false));
        options.Converters.Add(new RequestTextConverter());
        // The wire records' metadata is generated at compile time, the same the client uses; anything else (problem
        // details, internal payloads) by reflection. Log lines an agent relays are read as sent (TextRules.Relayed
        // applies where they are stored); the records are shared with the client, so that is said here.
        options.TypeInfoResolver = JsonTypeInfoResolver.Combine(
                OrchestratorJsonContext.Default, options.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver())
            .WithAddedModifier(RelayedText);
    }

    public static readonly JsonSerializerOptions Options = Create();

    private static void RelayedText(JsonTypeInfo type)
    {
        if (type.Type == typeof(Contracts.TaskLogEntry))
        {
            type.Properties.Single(p => p.Name == "message").CustomConverter = new RelayedTextConverter();
        }
    }

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        Configure(options);
        return options;
    }
}
