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
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize =
                kestrel.ApplicationServices.GetRequiredService<IOptions<OrchestratorOptions>>().Value.MaxRequestBodyBytes;
            kestrel.ConfigureHttpsDefaults(https =>
            {
                var certificates = kestrel.ApplicationServices.GetRequiredService<ServerCertificateSource>();
                https.ServerCertificateSelector = (_, _) => certificates.Current;
                https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                // Our CA is private, so the TLS layer would reject its certificates; the agent authentication
                // handler validates the chain against the CA's roots instead.
                https.ClientCertificateValidation = (_, _, _) => true;
            });
        });
        return builder;
    }
}
