using Microsoft.EntityFrameworkCore;
using Orchestrator.Audit;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Security;

namespace Orchestrator.ApiKeys;

/// <summary>The way back in when no admin key works (lost, or revoked): <c>Orchestrator reset-admin-key</c> adds a
/// new admin key and writes it, as the first start does, to <c>&lt;data directory&gt;/admin-api-key</c> (0600). It
/// needs what the service needs (its settings, the database, the data directory), so only someone who could already
/// run the service can use it. It is audited (<c>apikey.reset</c>); the key is never printed or logged.</summary>
public static class ResetAdminKeyCommand
{
    public const string Verb = "reset-admin-key";
    public const string Actor = "system:reset-admin-key";

    public static async Task<int> RunAsync(IServiceProvider services, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var time = scope.ServiceProvider.GetRequiredService<TimeProvider>();
        if ((await db.Database.GetPendingMigrationsAsync(cancellationToken)).Any())
        {
            await error.WriteLineAsync(
                "The database is not set up yet (or is older than this version): start the service once; a first start creates an admin key.");
            return 1;
        }

        var now = time.GetUtcNow().UtcDateTime;
        var secret = Secrets.New("ork");
        var key = new ApiKey
        {
            Id = Guid.CreateVersion7(),
            Name = $"reset-admin-{now:yyyyMMdd-HHmmss}",
            Role = ApiKeyRole.Admin,
            KeyHash = Secrets.Hash(secret),
            CreatedAt = now,
            CreatedBy = Actor,
        };
        db.ApiKeys.Add(key);
        new AuditLog(db, time).Record(Actor, "apikey.reset", "apikey", key.Id.ToString(),
            new { key.Name, role = key.Role, osUser = Environment.UserName, host = Environment.MachineName });

        // The file first: a key saved without its file would be a key nobody holds.
        var path = scope.ServiceProvider.GetRequiredService<DataDirectory>().File(BootstrapAdminKey.FileName);
        await BootstrapAdminKey.WriteOwnerOnlyAsync(path, secret, cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        await output.WriteLineAsync($"Created the admin API key '{key.Name}' ({key.Id}); it is in {path} (readable by this user only).");
        await output.WriteLineAsync("Revoke keys you no longer trust with DELETE /api/v1/api-keys/{id}.");
        return 0;
    }
}
