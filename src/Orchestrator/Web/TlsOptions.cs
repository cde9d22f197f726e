using System.ComponentModel.DataAnnotations;
using System.Net.Security;
using Microsoft.Extensions.Options;

namespace Orchestrator.Web;

/// <summary>What the service's own TLS offers (<c>Orchestrator:Tls</c>). TLS 1.2 and 1.3 only (Kestrel's default).</summary>
public sealed class TlsOptions : IValidatableObject
{
    public const string Section = "Orchestrator:Tls";

    /// <summary>Offered when <see cref="CipherSuites"/> is empty: TLS 1.3's suites and TLS 1.2's ECDHE suites with an AEAD
    /// cipher (AES-GCM, ChaCha20-Poly1305), for ECDSA certificates (the CA's) and RSA ones (an operator's PFX). No CBC,
    /// no static RSA key exchange.</summary>
    public static readonly TlsCipherSuite[] AeadSuites =
    [
        TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];

    /// <summary>IANA names (<c>TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256</c>…) replacing <see cref="AeadSuites"/>; include
    /// TLS 1.3's (<c>TLS_AES_128_GCM_SHA256</c>…) or TLS 1.3 is not offered. Not applied on Windows (SChannel decides).</summary>
    public string[] CipherSuites { get; set; } = [];

    public TlsCipherSuite[] Offered() =>
        CipherSuites.Length == 0 ? AeadSuites : [.. CipherSuites.Select(name => Enum.Parse<TlsCipherSuite>(name.Trim()))];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        for (var i = 0; i < CipherSuites.Length; i++)
        {
            var name = CipherSuites[i]?.Trim();
            if (!Enum.TryParse<TlsCipherSuite>(name, out _) || int.TryParse(name, out _))
            {
                yield return new ValidationResult(
                    $"Orchestrator:Tls:CipherSuites:{i} ('{name}') is not a TLS cipher suite name such as TLS_AES_128_GCM_SHA256.");
            }
        }
    }
}

[OptionsValidator]
internal sealed partial class TlsOptionsValidator : IValidateOptions<TlsOptions>;
