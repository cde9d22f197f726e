using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Orchestrator.Certificates;

public sealed class CertificateOptions : IValidatableObject
{
    public const string Section = "Orchestrator:Certificates";

    /// <summary>Lifetime of agent client certificates.</summary>
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromDays(1);

    /// <summary>An agent certificate this close to expiry is renewed by the next heartbeat.</summary>
    public TimeSpan RenewBefore { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often each replica checks whether certificates were revoked without it hearing (a lost cluster
    /// event) and reloads its revocation list if so: the longest a revoked or deleted agent can still be served by a
    /// replica whose events stopped arriving. One indexed single-row read per interval when nothing changed.</summary>
    public TimeSpan RevocationSyncInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Lifetime of a CA root.</summary>
    public TimeSpan RootLifetime { get; set; } = TimeSpan.FromDays(3650);

    /// <summary>Lifetime of the server TLS certificate issued by the CA.</summary>
    public TimeSpan ServerLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>DNS names and IP addresses the server certificate is issued for. The defaults (localhost,
    /// 127.0.0.1) are in appsettings.json: the binder appends configured items to an initialised array, so a default
    /// here could never be replaced.</summary>
    public string[] ServerHostNames { get; set; } = [];

    /// <summary>Optional PFX for Kestrel; when set the CA does not issue the server certificate.</summary>
    public string? ServerCertificatePath { get; set; }
    public string? ServerCertificatePassword { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Lifetime <= TimeSpan.Zero)
        {
            yield return new ValidationResult("Orchestrator:Certificates:Lifetime must be greater than zero.");
        }

        if (RenewBefore <= TimeSpan.Zero || RenewBefore >= Lifetime)
        {
            yield return new ValidationResult(
                "Orchestrator:Certificates:RenewBefore must be greater than zero and less than Orchestrator:Certificates:Lifetime.");
        }

        if (RevocationSyncInterval < TimeSpan.FromSeconds(1) || RevocationSyncInterval > TimeSpan.FromMinutes(5))
        {
            yield return new ValidationResult("Orchestrator:Certificates:RevocationSyncInterval must be from 00:00:01 to 00:05:00.");
        }

        if (RootLifetime <= Lifetime * 2)
        {
            yield return new ValidationResult("Orchestrator:Certificates:RootLifetime must be more than twice Orchestrator:Certificates:Lifetime.");
        }

        if (ServerLifetime <= TimeSpan.FromHours(2))
        {
            yield return new ValidationResult("Orchestrator:Certificates:ServerLifetime must be more than two hours.");
        }

        if (ServerHostNames.Length == 0 || ServerHostNames.Any(string.IsNullOrWhiteSpace))
        {
            yield return new ValidationResult("Orchestrator:Certificates:ServerHostNames must list at least one host name.");
        }

        if (ServerCertificatePath is not null && !File.Exists(ServerCertificatePath))
        {
            yield return new ValidationResult("Orchestrator:Certificates:ServerCertificatePath points to a file that does not exist.");
        }
    }
}

[OptionsValidator]
internal sealed partial class CertificateOptionsValidator : IValidateOptions<CertificateOptions>;
