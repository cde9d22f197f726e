using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;
using Orchestrator.Hosting;

namespace Orchestrator.Security;

/// <summary>Behind a TLS-terminating proxy the agent's certificate arrives in a header, and every caller's address in
/// <c>X-Forwarded-For</c>. Believing them is opt-in (<c>Orchestrator:ForwardedClientCertificate:Enabled</c>) and only
/// for requests from the configured proxy addresses: from anyone else the certificate header would let a caller claim
/// any certificate it has seen, and the address header would let it dodge the registration rate limit.</summary>
public static class ForwardedClientCertificates
{
    public static IServiceCollection AddForwardedClientCertificates(this IServiceCollection services)
    {
        services.AddValidatedOptions<ForwardedClientCertificateOptions, ForwardedClientCertificateOptionsValidator>(
            ForwardedClientCertificateOptions.Section);
        services.AddCertificateForwarding(_ => { });
        services.AddOptions<CertificateForwardingOptions>().Configure<IOptions<ForwardedClientCertificateOptions>>((forwarding, settings) =>
        {
            forwarding.CertificateHeader = settings.Value.HeaderName;
            forwarding.HeaderConverter = Parse!;
        });
        return services;
    }

    public static WebApplication UseForwardedClientCertificates(this WebApplication app)
    {
        var settings = app.Services.GetRequiredService<IOptions<ForwardedClientCertificateOptions>>().Value;
        if (!settings.Enabled)
        {
            return app;
        }

        var proxies = settings.KnownProxies.Select(p => Normalize(IPAddress.Parse(p))).ToHashSet();

        // Only the address the trusted proxy itself appended (the last one) is believed; earlier entries are the
        // client's own claims. Without it the whole fleet behind one proxy would share one rate-limit budget.
        var forwardedFor = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor, ForwardLimit = 1 };
        forwardedFor.KnownProxies.Clear();
        foreach (var proxy in proxies)
        {
            forwardedFor.KnownProxies.Add(proxy);
        }

        app.UseWhen(context => context.Connection.RemoteIpAddress is { } remote && proxies.Contains(Normalize(remote)),
            branch => branch.UseForwardedHeaders(forwardedFor).UseCertificateForwarding());
        return app;
    }

    /// <summary>Accepts URL-encoded PEM (nginx <c>$ssl_client_escaped_cert</c>), PEM, base64 DER, or an Envoy
    /// <c>x-forwarded-client-cert</c> value with a <c>Cert="..."</c> element. Anything else is no certificate.</summary>
    public static X509Certificate2? Parse(string header)
    {
        try
        {
            var value = header.Trim();
            var cert = value.IndexOf("Cert=\"", StringComparison.OrdinalIgnoreCase);
            if (cert >= 0)
            {
                var start = cert + 6;
                var end = value.IndexOf('"', start);
                value = end > start ? value[start..end] : string.Empty;
            }

            if (value.Contains('%', StringComparison.Ordinal))
            {
                value = Uri.UnescapeDataString(value);
            }

            return value.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)
                ? X509Certificate2.CreateFromPem(value)
                : X509CertificateLoader.LoadCertificate(Convert.FromBase64String(value));
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException or ArgumentException)
        {
            return null;
        }
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}

/// <summary>Client certificates forwarded by a TLS-terminating proxy (opt-in, trusted proxies only).</summary>
public sealed class ForwardedClientCertificateOptions : IValidatableObject
{
    public const string Section = "Orchestrator:ForwardedClientCertificate";

    public bool Enabled { get; set; }

    /// <summary>Header carrying the certificate: URL-encoded PEM (nginx <c>$ssl_client_escaped_cert</c>), PEM,
    /// base64 DER, or Envoy's <c>x-forwarded-client-cert</c> with a <c>Cert="..."</c> element.</summary>
    public string HeaderName { get; set; } = "X-Forwarded-Client-Cert";

    /// <summary>Addresses of the proxies whose header is believed; from anyone else the header is ignored.</summary>
    public string[] KnownProxies { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Enabled)
        {
            yield break;
        }

        if (string.IsNullOrWhiteSpace(HeaderName))
        {
            yield return new ValidationResult("Orchestrator:ForwardedClientCertificate:HeaderName is required when forwarding is enabled.");
        }

        if (KnownProxies.Length == 0 || !KnownProxies.All(p => IPAddress.TryParse(p, out _)))
        {
            yield return new ValidationResult(
                "Orchestrator:ForwardedClientCertificate:KnownProxies must list the proxies' IP addresses when forwarding is enabled.");
        }
    }
}

[OptionsValidator]
internal sealed partial class ForwardedClientCertificateOptionsValidator : IValidateOptions<ForwardedClientCertificateOptions>;
