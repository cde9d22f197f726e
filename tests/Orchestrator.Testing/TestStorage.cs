using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orchestrator.Hosting;

namespace Orchestrator.Testing;

/// <summary>One test's database (a fresh SQLite file in its own data directory, or a fresh PostgreSQL database).
/// Several app instances may share it: restarts, or replicas on PostgreSQL.</summary>
public sealed class TestStorage : IDisposable
{
    private TestStorage(DatabaseProvider provider, string dataDirectory, string? connectionString)
    {
        Provider = provider;
        DataDirectory = dataDirectory;
        ConnectionString = connectionString;
    }

    public DatabaseProvider Provider { get; }
    public string DataDirectory { get; }
    public string? ConnectionString { get; }

    // Generating the 3072-bit RSA key-encryption certificate costs about half a second of CPU per data directory, so
    // the run generates one and seeds every data directory with it; KeyCustodyTests covers the generation itself.
    private static readonly Lazy<byte[]> KeyEncryptionCertificate = new(() =>
    {
        using var key = RSA.Create(3072);
        using var certificate = new CertificateRequest("CN=Orchestrator key encryption (tests)", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(10));
        return certificate.Export(X509ContentType.Pfx);
    });

    public static async Task<TestStorage> CreateAsync(DatabaseProvider provider)
    {
        var connectionString = provider == DatabaseProvider.Postgres ? await PostgresServer.CreateDatabaseAsync() : null;
        var dataDirectory = Directory.CreateTempSubdirectory("orch-test-").FullName;
        await File.WriteAllBytesAsync(Path.Combine(dataDirectory, Security.KeyEncryptionCertificate.GeneratedFileName), KeyEncryptionCertificate.Value);
        return new TestStorage(provider, dataDirectory, connectionString);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A host still closing its SQLite file; the temp folder is cleaned by the OS.
        }
    }
}
