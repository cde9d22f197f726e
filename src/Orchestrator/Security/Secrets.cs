using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Orchestrator.Security;

/// <summary>The one place secrets shown once (API keys, registration tokens) are made and hashed.</summary>
public static class Secrets
{
    /// <summary>A new secret: a readable prefix naming its kind and 256 random bits.</summary>
    public static string New(string prefix) => $"{prefix}_{Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32))}";

    /// <summary>SHA-256 of the secret. The secrets are random and long, so a slow password hash adds nothing.</summary>
    public static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    public static bool Matches(byte[] storedHash, string presented) =>
        CryptographicOperations.FixedTimeEquals(storedHash, Hash(presented));
}
