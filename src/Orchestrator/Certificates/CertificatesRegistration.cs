using Orchestrator.Hosting;

namespace Orchestrator.Certificates;

/// <summary>The certificate authority, agent credentials and their revocation, registered for the host.</summary>
public static class CertificatesRegistration
{
    /// <summary>The CA, agent credentials (certificates and tokens) and the agent authentication that checks them.</summary>
    public static IServiceCollection AddCertificates(this IServiceCollection services)
    {
        services.AddValidatedOptions<CertificateOptions, CertificateOptionsValidator>(CertificateOptions.Section);
        services.AddAgentAuthentication();

        // Order matters: hosted services start in registration order, after the database migrator.
        services.AddSingleton<CertificateAuthority>();
        services.AddHostedService(sp => sp.GetRequiredService<CertificateAuthority>());
        services.AddSingleton<AgentTokens>();
        services.AddHostedService(sp => sp.GetRequiredService<AgentTokens>());
        services.AddSingleton<RevocationList>();
        services.AddHostedService(sp => sp.GetRequiredService<RevocationList>());
        services.AddSingleton<ServerCertificateRenewal>();
        services.AddHostedService(sp => sp.GetRequiredService<ServerCertificateRenewal>());
        services.AddSingleton<CertificateMetrics>();
        services.AddScoped<AgentCredentials>();
        return services;
    }
}
