using System.Security.Cryptography;

namespace Orchestrator.Agent.Identity;

/// <summary>The agent's private keys (ECDSA P-256, PKCS#8 PEM, 0600), each in its own file named by a generation, so a
/// rotation writes the new key beside the old one and the identity file's switch to it is the one atomic step.</summary>
public sealed class KeyStore(StateDirectory state, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    private const string Prefix = "agent-key-";

    /// <summary>A new key, in memory only until <see cref="Save"/>; the key never leaves the host.</summary>
    public static ECDsa NewKey() => ECDsa.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>Stores a key under a fresh name (0600) and returns the name.</summary>
    public string Save(ECDsa key)
    {
        var name = $"{Prefix}{_time.GetUtcNow():yyyyMMddHHmmssfff}-{Guid.NewGuid():N}"[..(Prefix.Length + 26)] + ".pem";
        StateDirectory.WriteAtomically(state.File(name), key.ExportPkcs8PrivateKeyPem());
        return name;
    }

    public ECDsa Load(string name)
    {
        var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(state.File(Checked(name))));
        return key;
    }

    /// <summary>Deletes every key file but <paramref name="keep"/> (old generations after a rotation, or a key written by
    /// a rotation that crashed before it was used).</summary>
    public void DeleteAllBut(string keep)
    {
        foreach (var file in Directory.EnumerateFiles(state.Path, $"{Prefix}*.pem"))
        {
            if (Path.GetFileName(file) != keep)
            {
                File.Delete(file);
            }
        }
    }

    private static string Checked(string name) =>
        name.StartsWith(Prefix, StringComparison.Ordinal) && name == Path.GetFileName(name)
            ? name
            : throw new InvalidDataException($"'{name}' is not a key file of this agent.");
}
