using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orchestrator.Hosting;
using Orchestrator.Security;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Certificates;

public sealed class KeyCustodyTests
{
    [SkippableFact]
    public async Task Replicas_with_their_own_data_directories_and_the_configured_key_encryption_certificate_share_one_ca()
    {
        var kekDirectory = Directory.CreateTempSubdirectory("orch-kek-").FullName;
        var otherData = Directory.CreateTempSubdirectory("orch-replica-").FullName;
        try
        {
            var pfx = Path.Combine(kekDirectory, "kek.pfx");
            using (var rsa = RSA.Create(2048))
            {
                using var certificate = new CertificateRequest("CN=test kek", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                    .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));
                await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "secret"));
            }

            var kek = new Dictionary<string, string?>
            {
                ["Orchestrator:KeyProtection:CertificatePath"] = pfx,
                ["Orchestrator:KeyProtection:CertificatePassword"] = "secret",
            };
            await using var first = await TestApp.StartAsync(DatabaseProvider.Postgres, settings: kek);
            await using var second = TestApp.StartOn(first.Storage, settings: new Dictionary<string, string?>(kek)
            {
                ["Orchestrator:DataDirectory"] = otherData,
            });

            var registeredOnFirst = await first.RegisterAgentAsync();
            var registeredOnSecond = await second.RegisterAgentAsync();

            Assert.Equal(await first.Client().GetStringAsync("/api/v1/ca"), await second.Client().GetStringAsync("/api/v1/ca"));
            Assert.Equal(registeredOnFirst.Certificate.IssuerName.Name, registeredOnSecond.Certificate.IssuerName.Name);
            await (await second.Client(certificate: registeredOnFirst.Certificate, bearer: registeredOnFirst.Token)
                .GetAsync($"/api/v1/agents/{registeredOnFirst.Id}/identity")).ShouldBe(HttpStatusCode.OK);
            await (await first.Client(certificate: registeredOnSecond.Certificate, bearer: registeredOnSecond.Token)
                .GetAsync($"/api/v1/agents/{registeredOnSecond.Id}/identity")).ShouldBe(HttpStatusCode.OK);
            Assert.False(File.Exists(Path.Combine(otherData, "key-encryption.pfx")));
        }
        finally
        {
            Directory.Delete(kekDirectory, recursive: true);
            Directory.Delete(otherData, recursive: true);
        }
    }

    [SkippableFact]
    public async Task Without_a_configured_key_encryption_certificate_one_is_generated_into_an_owner_only_file_and_a_copied_database_without_it_does_not_start_a_new_ca()
    {
        var storage = await TestStorage.CreateAsync(DatabaseProvider.Sqlite);
        using var _ = storage;
        var file = Path.Combine(storage.DataDirectory, KeyEncryptionCertificate.GeneratedFileName);
        File.Delete(file);
        await using (var app = TestApp.StartOn(storage))
        {
            await app.RegisterAgentAsync();
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, OperatingSystem.IsWindows() ? UnixFileMode.UserRead | UnixFileMode.UserWrite : File.GetUnixFileMode(file));
            Assert.Contains(file, app.Logs.AllText);
        }

        File.Delete(file);

        var error = Assert.ThrowsAny<Exception>(() => TestApp.StartOn(storage));
        Assert.IsAssignableFrom<CryptographicException>(error.GetBaseException());
    }
}
