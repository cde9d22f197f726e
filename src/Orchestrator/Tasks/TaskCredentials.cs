using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;

namespace Orchestrator.Tasks;

/// <summary>Encrypts task credentials at rest with Data Protection, whose key ring every replica shares.</summary>
public sealed class TaskCredentials(IDataProtectionProvider provider)
{
    public const string Purpose = "Orchestrator.Tasks.Credentials";

    private readonly IDataProtector _protector = provider.CreateProtector(Purpose);

    /// <summary>The stored form; null when there are none, so "no credentials" needs no decryption.</summary>
    public string? Protect(IReadOnlyDictionary<string, string>? credentials) =>
        credentials is null || credentials.Count == 0 ? null : _protector.Protect(JsonSerializer.Serialize(credentials));

    public IReadOnlyDictionary<string, string>? Unprotect(string? stored) =>
        stored is null ? null : JsonSerializer.Deserialize<Dictionary<string, string>>(_protector.Unprotect(stored));
}
