using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Security;

namespace Orchestrator.ApiKeys;

/// <summary>Makes sure an operator can get in on the first start: the configured bootstrap admin key exists, or
/// (when none is configured and there are no keys at all) a generated one is written to an owner-only file.</summary>
internal sealed class BootstrapAdminKey(
    IServiceScopeFactory scopes,
    IOptions<AuthOptions> options,
    DataDirectory dataDirectory,
    TimeProvider time,
    ILogger<BootstrapAdminKey> logger) : IHostedService
{
    public const string FileName = "admin-api-key";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var configured = options.Value.BootstrapAdminKey;

        if (!string.IsNullOrEmpty(configured))
        {
            if (configured.Length < AuthOptions.RecommendedKeyLength)
            {
                logger.BootstrapAdminKeyShort(configured.Length, AuthOptions.RecommendedKeyLength);
            }

            var hash = Secrets.Hash(configured);
            if (!await db.ApiKeys.AnyAsync(k => k.KeyHash == hash, cancellationToken))
            {
                await AddAsync(db, configured, cancellationToken);
                logger.BootstrapAdminKeyCreated();
            }

            return;
        }

        if (await db.ApiKeys.AnyAsync(cancellationToken))
        {
            return;
        }

        var secret = Secrets.New("ork");
        var path = dataDirectory.File(FileName);
        await WriteOwnerOnlyAsync(path, secret, cancellationToken);
        await AddAsync(db, secret, cancellationToken);
        logger.AdminKeyGenerated(path);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task AddAsync(OrchestratorDbContext db, string secret, CancellationToken cancellationToken)
    {
        db.ApiKeys.Add(new ApiKey
        {
            Id = Guid.CreateVersion7(),
            Name = "bootstrap-admin",
            Role = ApiKeyRole.Admin,
            KeyHash = Secrets.Hash(secret),
            CreatedAt = time.GetUtcNow().UtcDateTime,
            CreatedBy = "system",
        });
        new Audit.AuditLog(db, time).Record("system", "apikey.created", "apikey", "bootstrap-admin", new { role = ApiKeyRole.Admin });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // Another replica starting at the same moment may have created the same configured key.
            db.ChangeTracker.Clear();
            var hash = Secrets.Hash(secret);
            if (!await db.ApiKeys.AnyAsync(k => k.KeyHash == hash, cancellationToken))
            {
                throw;
            }
        }
    }

    /// <summary>Writes the key to a file only its owner may read (0600), replacing what was there.</summary>
    internal static async Task WriteOwnerOnlyAsync(string path, string secret, CancellationToken cancellationToken)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using var stream = new FileStream(path, options);
        await using var writer = new StreamWriter(stream);
        await writer.WriteLineAsync(secret.AsMemory(), cancellationToken);
        if (!OperatingSystem.IsWindows())
        {
            // UnixCreateMode does not apply when the file already existed.
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
