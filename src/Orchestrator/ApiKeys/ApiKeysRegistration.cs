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

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrEmpty(BootstrapAdminKey) && BootstrapAdminKey.Length < 32)
        {
            yield return new ValidationResult("Orchestrator:Auth:BootstrapAdminKey must be at least 32 characters.");
        }
    }
}

[OptionsValidator]
internal sealed partial class AuthOptionsValidator : IValidateOptions<AuthOptions>;
