using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orchestrator.Agent.Identity;

/// <summary>Who the agent is, as kept in <c>identity.json</c> (0600): its id and name, the server it belongs to, its
/// certificate, the token bound to it, which key file the certificate certifies, and the server's config.</summary>
public sealed record StoredIdentity(
    Guid AgentId,
    string Name,
    string Server,
    string CertificatePem,
    string Token,
    string KeyFile,
    DateTime ReceivedAt,
    DateTime ExpiresAt,
    int HeartbeatIntervalSeconds,
    int TaskPollIntervalSeconds);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(StoredIdentity))]
internal sealed partial class IdentityJson : JsonSerializerContext;

/// <summary>Reads and replaces <c>identity.json</c> and the CA bundle beside it. A replacement is one rename, so the
/// certificate, token and key name always change together.</summary>
public sealed class CredentialStore(StateDirectory state)
{
    public const string IdentityFile = "identity.json";
    public const string CaFile = "ca.pem";

    public string IdentityPath => state.File(IdentityFile);
    public string CaPath => state.File(CaFile);

    /// <summary>The stored identity, or null when there is none. A damaged file is an error, not a fresh start: it
    /// would otherwise spend a registration token and orphan the agent's record on the server.</summary>
    public StoredIdentity? Load()
    {
        if (!File.Exists(IdentityPath))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(IdentityPath), IdentityJson.Default.StoredIdentity)
                   ?? throw new InvalidDataException("empty");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{IdentityPath} is damaged ({ex.Message}); move it away to register this host again.", ex);
        }
    }

    public void Save(StoredIdentity identity) =>
        StateDirectory.WriteAtomically(IdentityPath, JsonSerializer.Serialize(identity, IdentityJson.Default.StoredIdentity));

    public string? LoadCaBundle() => File.Exists(CaPath) ? File.ReadAllText(CaPath) : null;

    public void SaveCaBundle(string pem) => StateDirectory.WriteAtomically(CaPath, pem);
}
