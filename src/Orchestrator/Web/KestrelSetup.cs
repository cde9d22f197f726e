using System.Net.Security;
using System.Security.Authentication;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;
using Orchestrator.Certificates;
using Orchestrator.Hosting;

namespace Orchestrator.Web;

public static class KestrelSetup
{
    public const string DefaultUrl = "https://localhost:8443";

    /// <summary>HTTPS by default on <see cref="DefaultUrl"/>, unless <c>--urls</c>, <c>ASPNETCORE_URLS</c> or Kestrel
    /// endpoints say otherwise. Client certificates are asked for, never required: registration, operator endpoints,
    /// Swagger and health work without one, and agent endpoints check the chain themselves.</summary>
    public static WebApplicationBuilder ConfigureOrchestratorKestrel(this WebApplicationBuilder builder)
    {
        if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey]) &&
            !builder.Configuration.GetSection("Kestrel:Endpoints").GetChildren().Any())
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        builder.Services.AddSingleton<ServerCertificateSource>();
        builder.Services.AddValidatedOptions<TlsOptions, TlsOptionsValidator>(TlsOptions.Section);
        builder.Services.AddHsts(hsts =>
        {
            hsts.MaxAge = HstsMaxAge;
            // The service names itself by whatever host operators use, loopback included: browsers ignore the header
            // on a certificate they do not trust, so it only ever pins HTTPS where the CA is trusted.
            hsts.ExcludedHosts.Clear();
        });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize =
                kestrel.ApplicationServices.GetRequiredService<IOptions<OrchestratorOptions>>().Value.MaxRequestBodyBytes;
            kestrel.ConfigureHttpsDefaults(https =>
            {
                var certificates = kestrel.ApplicationServices.GetRequiredService<ServerCertificateSource>();
                // Kestrel wants a certificate or a selector before it starts; each handshake then takes the context
                // built once for the current certificate instead (OnAuthenticate below), not one built per connection.
                https.ServerCertificateSelector = (_, _) => certificates.Current;
                https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                // Our CA is private, so the TLS layer would reject its certificates; the agent authentication
                // handler validates the chain against the CA's roots instead.
                https.ClientCertificateValidation = (_, _, _) => true;
                var tls = kestrel.ApplicationServices.GetRequiredService<IOptions<TlsOptions>>().Value;
                var suites = OperatingSystem.IsWindows() ? null : new CipherSuitesPolicy(tls.Offered());
                // A handshake with a cipher-suite policy gets an OpenSSL context of its own (.NET shares one per
                // certificate only without a policy): tens of KiB a connection, and no session resumption. TLS 1.3's
                // suites are all AEAD, so a client offering TLS 1.3 needs no policy for the default list; only clients
                // limited to TLS 1.2 (and every client, once operators name their own suites) get the policy.
                var shareTls13 = suites is not null && tls.CipherSuites.Length == 0;
                if (shareTls13)
                {
                    https.TlsClientHelloBytesCallback = (connection, hello) =>
                    {
                        if (TlsClientHello.OffersTls13(hello))
                        {
                            connection.Features.Set(OffersTls13.Instance);
                        }
                    };
                }

                https.OnAuthenticate = (connection, ssl) =>
                {
                    ssl.ServerCertificateSelectionCallback = null;
                    ssl.ServerCertificateContext = certificates.CurrentContext;
                    if (shareTls13 && connection.Features.Get<OffersTls13>() is not null)
                    {
                        ssl.EnabledSslProtocols = SslProtocols.Tls13;
                    }
                    else if (suites is not null)
                    {
                        ssl.CipherSuitesPolicy = suites;
                    }
                };
            });
        });
        return builder;
    }

    /// <summary>How long a browser that reached the service over HTTPS refuses plain HTTP to it.</summary>
    public static readonly TimeSpan HstsMaxAge = TimeSpan.FromDays(365);

    /// <summary><c>Strict-Transport-Security</c> on answers over the service's own TLS (not on plain HTTP, as behind a
    /// TLS-terminating proxy, whose job it then is).</summary>
    public static WebApplication UseOrchestratorHsts(this WebApplication app)
    {
        app.UseHsts();
        return app;
    }

    /// <summary>Marks a connection whose ClientHello offers TLS 1.3.</summary>
    private sealed class OffersTls13
    {
        public static readonly OffersTls13 Instance = new();
    }
}
