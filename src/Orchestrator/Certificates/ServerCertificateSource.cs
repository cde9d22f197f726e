using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Orchestrator.Hosting;

namespace Orchestrator.Certificates;

/// <summary>The certificate Kestrel presents. Read on every TLS handshake, so replacing it takes effect without a restart.</summary>
public sealed class ServerCertificateSource(IOptions<CertificateOptions> options, DataDirectory dataDirectory, TimeProvider time)
{
    private X509Certificate2? _current;
    private readonly Lock _gate = new();

    public X509Certificate2 Current
    {
        get
        {
            var current = Volatile.Read(ref _current);
            if (current is not null)
            {
                return current;
            }

            lock (_gate)
            {
                return _current ??= LoadOrCreate();
            }
        }
    }

    public void Replace(X509Certificate2 certificate) => Volatile.Write(ref _current, certificate);

    private X509Certificate2 LoadOrCreate()
    {
        var settings = options.Value;
        if (settings.ServerCertificatePath is { } configured)
        {
            return X509CertificateLoader.LoadPkcs12FromFile(configured, settings.ServerCertificatePassword);
        }

        // Until the CA has issued one, a self-signed certificate kept in the data directory.
        var path = dataDirectory.File("server-selfsigned.pfx");
        if (File.Exists(path))
        {
            var existing = X509CertificateLoader.LoadPkcs12FromFile(path, null);
            if (existing.NotAfter.ToUniversalTime() > time.GetUtcNow().UtcDateTime.AddDays(7))
            {
                return existing;
            }
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Orchestrator (self-signed)", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in settings.ServerHostNames)
        {
            if (System.Net.IPAddress.TryParse(name, out var ip))
            {
                san.AddIpAddress(ip);
            }
            else
            {
                san.AddDnsName(name);
            }
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = time.GetUtcNow();
        using var created = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(365));
        var pfx = created.Export(X509ContentType.Pfx);
        File.WriteAllBytes(path, pfx);
        return X509CertificateLoader.LoadPkcs12(pfx, null);
    }
}
