namespace Orchestrator.Audit;

public static class AuditRegistration
{
    public static IServiceCollection AddAudit(this IServiceCollection services) => services.AddScoped<AuditLog>();
}
