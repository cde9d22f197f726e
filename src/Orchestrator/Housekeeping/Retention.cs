using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Audit;
using Orchestrator.Certificates;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Rollouts;
using Orchestrator.Tasks;

namespace Orchestrator.Housekeeping;

public sealed class RetentionOptions : IValidatableObject
{
    public const string Section = "Orchestrator:Retention";

    public TimeSpan EndedTasks { get; set; } = TimeSpan.FromDays(30);
    public TimeSpan AuditEvents { get; set; } = TimeSpan.FromDays(365);
    public TimeSpan ExpiredCertificates { get; set; } = TimeSpan.FromDays(7);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (EndedTasks <= TimeSpan.Zero || AuditEvents <= TimeSpan.Zero || ExpiredCertificates <= TimeSpan.Zero)
        {
            yield return new ValidationResult("Orchestrator:Retention periods must be greater than zero.");
        }
    }
}

[OptionsValidator]
internal sealed partial class RetentionOptionsValidator : IValidateOptions<RetentionOptions>;

/// <summary>Deletes what has outlived its retention period: ended tasks (their logs go with them) and ended rollouts
/// (their targets and events go with them) after <c>EndedTasks</c>, audit events and certificate rows long expired. Each
/// sweep is a few set-based deletes, harmless when replicas run them together.</summary>
public sealed class Retention(IServiceScopeFactory scopes, IOptions<RetentionOptions> options, TimeProvider time, ILogger<Retention> logger)
    : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    public sealed record Swept(int Tasks, int AuditEvents, int Certificates, int Rollouts);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        BackgroundLoop.RunAsync(Interval, time, passAtStart: true, SweepAsync,
            ex => logger.RetentionSweepFailed(ex, Interval), stoppingToken);

    public async Task<Swept> SweepAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var keep = options.Value;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        // Set-based deletes of up to an hour's rows (all of them on the first sweep after an upgrade) may rightly take
        // longer than a request's statement may.
        db.Database.SetCommandTimeout(DatabaseConnection.MaintenanceCommandTimeout);

        var taskCutoff = now - keep.EndedTasks;
        var ended = AgentTaskStatuses.Unfinished;
        var tasks = await db.Tasks.Where(t => !ended.Contains(t.Status) && t.CompletedAt != null && t.CompletedAt < taskCutoff)
            .ExecuteDeleteAsync(cancellationToken);
        // A rollout ends after its tasks, so it goes with them or after them, never leaving its tasks unexplained.
        var rollouts = await db.Rollouts.Where(r => r.CompletedAt != null && r.CompletedAt < taskCutoff).ExecuteDeleteAsync(cancellationToken);
        var auditCutoff = now - keep.AuditEvents;
        var audit = await db.AuditEvents.Where(e => e.Timestamp < auditCutoff).ExecuteDeleteAsync(cancellationToken);
        var certificateCutoff = now - keep.ExpiredCertificates;
        var certificates = await db.IssuedCertificates.Where(c => c.NotAfter < certificateCutoff).ExecuteDeleteAsync(cancellationToken);

        if (tasks + audit + certificates + rollouts > 0)
        {
            logger.RetentionRemoved(tasks, rollouts, audit, certificates);
        }

        return new Swept(tasks, audit, certificates, rollouts);
    }
}
