using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orchestrator.Hosting;
using Orchestrator.Security;

namespace Orchestrator.ApiKeys;

public static class ApiKeysRegistration
{
    /// <summary>API key authentication, the role each operator policy admits, and the bootstrap admin key.</summary>
    public static IServiceCollection AddApiKeys(this IServiceCollection services)
    {
        services.AddValidatedOptions<AuthOptions, AuthOptionsValidator>(AuthOptions.Section);
        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(Policies.Viewer, p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser()
                .RequireRole(nameof(ApiKeyRole.Viewer), nameof(ApiKeyRole.Operator), nameof(ApiKeyRole.Admin)))
            .AddPolicy(Policies.Operator, p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser()
                .RequireRole(nameof(ApiKeyRole.Operator), nameof(ApiKeyRole.Admin)))
            .AddPolicy(Policies.Admin, p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser()
                .RequireRole(nameof(ApiKeyRole.Admin)));
        services.TryAddSingleton<AuthenticationMetrics>();
        services.AddHostedService<BootstrapAdminKey>();
        return services;
    }
}

public sealed class AuthOptions : IValidatableObject
{
    public const string Section = "Orchestrator:Auth";

    /// <summary>An admin API key that exists from the first start. When unset one is generated into the data directory.</summary>
    public string? BootstrapAdminKey { get; set; }

    /// <summary>Shorter keys are accepted (a test rig's or a lab's choice, and DESIGN.md sets no length) with a warning at
    /// every start: a generated key has 43 characters of randomness.</summary>
    public const int RecommendedKeyLength = 32;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (BootstrapAdminKey is { Length: > 0 } key && string.IsNullOrWhiteSpace(key))
        {
            yield return new ValidationResult("Orchestrator:Auth:BootstrapAdminKey must not be blank.");
        }
    }
}

[OptionsValidator]
internal sealed partial class AuthOptionsValidator : IValidateOptions<AuthOptions>;
