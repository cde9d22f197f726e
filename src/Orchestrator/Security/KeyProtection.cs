using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using System.Security.Cryptography.Xml;
using System.Xml;
using System.Xml.Linq;
using Microsoft.Extensions.Options;
using Orchestrator.Data;
using Orchestrator.Hosting;

namespace Orchestrator.Security;

public static class KeyProtection
{
    /// <summary>Fixed, so every replica (and every version) reads the same key ring and each other's ciphertexts.</summary>
    public const string ApplicationName = "Orchestrator";

    /// <summary>Data Protection with its key ring in the database (shared by replicas), the ring itself encrypted
    /// with the key-encryption certificate so a copy of the database alone does not reveal the CA key.</summary>
    public static IServiceCollection AddOrchestratorDataProtection(this IServiceCollection services)
    {
        services.AddValidatedOptions<KeyProtectionOptions, KeyProtectionOptionsValidator>(KeyProtectionOptions.Section);
        services.AddSingleton<KeyEncryptionCertificate>();
        // Before AddDataProtection, so it has the certificate ready (or has failed the start) before Data Protection starts.
        services.AddHostedService<KeyEncryptionCertificateWarmUp>();
        services.AddDataProtection()
            .SetApplicationName(ApplicationName)
            .PersistKeysToDbContext<OrchestratorDbContext>();

        // Through options rather than ProtectKeysWithCertificate, so the certificate follows configuration that is
        // supplied after Program runs (test hosts). The encryptor asks for it only when it encrypts a new key: the
        // options are built as the host resolves its hosted services, before the warm-up has started.
        services.AddOptions<KeyManagementOptions>().Configure<KeyEncryptionCertificate, ILoggerFactory>((options, kek, loggers) =>
            options.XmlEncryptor = new KeyEncryptionCertificateEncryptor(kek, loggers));
        return services;
    }
}

public sealed class KeyProtectionOptions : IValidatableObject
{
    public const string Section = "Orchestrator:KeyProtection";

    /// <summary>PFX whose key encrypts the Data Protection key ring. Required with several replicas.</summary>
    public string? CertificatePath { get; set; }
    public string? CertificatePassword { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrEmpty(CertificatePath) && !File.Exists(CertificatePath))
        {
            yield return new ValidationResult("Orchestrator:KeyProtection:CertificatePath points to a file that does not exist.");
        }
    }
}

[OptionsValidator]
internal sealed partial class KeyProtectionOptionsValidator : IValidateOptions<KeyProtectionOptions>;

/// <summary>Standard XML encryption to the key-encryption certificate, naming <see cref="KeyEncryptionCertificateDecryptor"/>
/// as the decryptor, which finds the certificate in DI rather than in an OS certificate store.</summary>
internal sealed class KeyEncryptionCertificateEncryptor(KeyEncryptionCertificate kek, ILoggerFactory loggers) : IXmlEncryptor
{
    public EncryptedXmlInfo Encrypt(XElement plaintextElement) =>
        new(new CertificateXmlEncryptor(kek.Certificate, loggers).Encrypt(plaintextElement).EncryptedElement,
            typeof(KeyEncryptionCertificateDecryptor));
}

/// <summary>Created by Data Protection (it passes its service provider) to read the key ring.</summary>
public sealed class KeyEncryptionCertificateDecryptor(IServiceProvider services) : IXmlDecryptor
{
    public XElement Decrypt(XElement encryptedElement)
    {
        var certificate = services.GetRequiredService<KeyEncryptionCertificate>().Certificate;
        var document = new XmlDocument { PreserveWhitespace = true };
        using (var reader = encryptedElement.CreateReader())
        {
            document.Load(reader);
        }

        new WithCertificate(document, certificate).DecryptDocument();
        return XElement.Parse(document.DocumentElement!.OuterXml);
    }

    private sealed class WithCertificate(XmlDocument document, X509Certificate2 certificate) : EncryptedXml(document)
    {
        public override byte[]? DecryptEncryptedKey(EncryptedKey encryptedKey)
        {
            using var rsa = certificate.GetRSAPrivateKey()
                ?? throw new CryptographicException("The key-encryption certificate has no RSA private key.");
            var useOaep = encryptedKey.EncryptionMethod?.KeyAlgorithm == XmlEncRSAOAEPUrl;
            return DecryptKey(encryptedKey.CipherData.CipherValue!, rsa, useOaep);
        }
    }
}

/// <summary>Loads the key-encryption certificate on a thread of its own from the moment the host starts, while the
/// migrations run. A first start generates its RSA-3072 key there: a few hundred milliseconds of one core that the
/// start used to wait for before the migrations. Its own start waits for the load, so the certificate is ready before
/// Data Protection starts, and a certificate that cannot be loaded still fails the start with its own error.</summary>
internal sealed class KeyEncryptionCertificateWarmUp(KeyEncryptionCertificate kek) : IHostedLifecycleService
{
    private Task _load = Task.CompletedTask;

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        _load = Task.Factory.StartNew(() => kek.Certificate, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => _load;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>The certificate that encrypts the Data Protection key ring: <c>Orchestrator:KeyProtection:CertificatePath</c>,
/// or for a single instance one generated into the data directory on first start.</summary>
public sealed class KeyEncryptionCertificate(
    IOptions<KeyProtectionOptions> options, DataDirectory dataDirectory, TimeProvider time, ILogger<KeyEncryptionCertificate> logger)
{
    public const string GeneratedFileName = "key-encryption.pfx";

    private readonly Lazy<X509Certificate2> _certificate = new(() => Load(options.Value, dataDirectory, time, logger));

    public X509Certificate2 Certificate => _certificate.Value;

    private static X509Certificate2 Load(KeyProtectionOptions settings, DataDirectory dataDirectory, TimeProvider time, ILogger logger)
    {
        if (!string.IsNullOrEmpty(settings.CertificatePath))
        {
            var configured = X509CertificateLoader.LoadPkcs12FromFile(settings.CertificatePath, settings.CertificatePassword,
                X509KeyStorageFlags.EphemeralKeySet);
            if (configured.GetRSAPrivateKey() is null)
            {
                throw new InvalidOperationException("Orchestrator:KeyProtection:CertificatePath must be a PFX with an RSA private key.");
            }

            return configured;
        }

        var path = dataDirectory.File(GeneratedFileName);
        if (File.Exists(path))
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, null, X509KeyStorageFlags.EphemeralKeySet);
        }

        // Data Protection's XML encryption needs an RSA key. The certificate never expires in practice: it only
        // wraps the key ring, and an expired one would still decrypt.
        using var key = RSA.Create(3072);
        var request = new CertificateRequest("CN=Orchestrator key encryption", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var now = time.GetUtcNow();
        using var created = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(100));
        var pfx = created.Export(X509ContentType.Pfx);
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            using var stream = new FileStream(path, fileOptions);
            stream.Write(pfx);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another instance on the same data directory wrote it first; use theirs.
            return X509CertificateLoader.LoadPkcs12FromFile(path, null, X509KeyStorageFlags.EphemeralKeySet);
        }

        logger.KeyEncryptionCertificateGenerated(path);
        return X509CertificateLoader.LoadPkcs12(pfx, null, X509KeyStorageFlags.EphemeralKeySet);
    }
}
