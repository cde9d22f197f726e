using System.Security.Cryptography;
using System.Text.Json;

namespace Orchestrator.Tasks;

/// <summary>An agent's <c>result</c> as stored and as compared. It is stored with the task's credential values masked
/// (an agent may echo a secret into its output), so a repeated completion cannot be compared with what is stored: it
/// is compared by a hash of the result as the agent sent it, taken before masking. The hash is of a canonical form
/// (object members in ordinal order, no whitespace), so the same result sent again with its members in another order
/// still counts as the same completion.</summary>
public static class TaskResultJson
{
    public const int HashLength = 64;

    public static string Hash(JsonElement result)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteCanonical(writer, result);
        }

        return Convert.ToHexStringLower(SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)));
    }

    /// <summary>The result with every credential value masked in its strings and member names; as sent otherwise.</summary>
    public static string Redacted(JsonElement result, CredentialRedactor redactor)
    {
        if (redactor.IsEmpty)
        {
            return result.GetRawText();
        }

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteRedacted(writer, result, redactor);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void WriteCanonical(Utf8JsonWriter writer, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var member in element.EnumerateObject().OrderBy(m => m.Name, StringComparer.Ordinal))
                {
                    writer.WritePropertyName(member.Name);
                    WriteCanonical(writer, member.Value);
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteCanonical(writer, item);
                }

                writer.WriteEndArray();
                break;
            default:
                element.WriteTo(writer);
                break;
        }
    }

    private static void WriteRedacted(Utf8JsonWriter writer, JsonElement element, CredentialRedactor redactor)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var member in element.EnumerateObject())
                {
                    writer.WritePropertyName(redactor.Redact(member.Name));
                    WriteRedacted(writer, member.Value, redactor);
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteRedacted(writer, item, redactor);
                }

                writer.WriteEndArray();
                break;
            case JsonValueKind.String:
                writer.WriteStringValue(redactor.Redact(element.GetString()!));
                break;
            default:
                element.WriteTo(writer);
                break;
        }
    }
}
