using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Orchestrator.Agents;
using Orchestrator.ApiKeys;
using Orchestrator.Audit;
using Orchestrator.Certificates;
using Orchestrator.Registration;
using Orchestrator.Targets;
using Orchestrator.Tasks;

namespace Orchestrator.Data;

/// <summary>The whole storage model. Each provider has a subclass only so its migrations can live apart.</summary>
public abstract class OrchestratorDbContext(DbContextOptions options) : DbContext(options), IDataProtectionKeyContext
{
    public DbSet<Agent> Agents => Set<Agent>();
    public DbSet<AgentLabel> AgentLabels => Set<AgentLabel>();
    public DbSet<AgentCapability> AgentCapabilities => Set<AgentCapability>();
    public DbSet<CaRoot> CaRoots => Set<CaRoot>();
    public DbSet<IssuedCertificate> IssuedCertificates => Set<IssuedCertificate>();
    public DbSet<SigningKey> SigningKeys => Set<SigningKey>();
    public DbSet<RegistrationToken> RegistrationTokens => Set<RegistrationToken>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();
    public DbSet<AgentTask> Tasks => Set<AgentTask>();
    public DbSet<TaskLog> TaskLogs => Set<TaskLog>();
    public DbSet<Target> Targets => Set<Target>();
    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // Every timestamp is UTC. SQLite hands back Unspecified kinds and Npgsql refuses non-UTC values for
        // timestamptz, so the kind is pinned on the way in and out.
        configurationBuilder.Properties<DateTime>().HaveConversion<UtcDateTimeConverter>();
        configurationBuilder.Properties<DateTime?>().HaveConversion<UtcDateTimeConverter>();
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Agent>(agent =>
        {
            agent.HasIndex(a => a.Name).IsUnique();
            agent.Property(a => a.Name).HasMaxLength(128);
            agent.Property(a => a.Version).HasMaxLength(64);
            agent.Property(a => a.Status).HasConversion<string>().HasMaxLength(16);
            agent.Property(a => a.DrainReason).HasMaxLength(512);
            agent.HasIndex(a => new { a.Status, a.LastHeartbeat });
            agent.HasMany(a => a.Labels).WithOne().HasForeignKey(l => l.AgentId).OnDelete(DeleteBehavior.Cascade);
            agent.HasMany(a => a.Capabilities).WithOne().HasForeignKey(c => c.AgentId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<AgentLabel>(label =>
        {
            label.HasKey(l => new { l.AgentId, l.Key });
            label.Property(l => l.Key).HasMaxLength(63);
            label.Property(l => l.Value).HasMaxLength(255);
            label.HasIndex(l => new { l.Key, l.Value });
        });
        modelBuilder.Entity<AgentCapability>(capability =>
        {
            capability.HasKey(c => new { c.AgentId, c.Name });
            capability.Property(c => c.Name).HasMaxLength(32);
            capability.HasIndex(c => c.Name);
        });

        modelBuilder.Entity<CaRoot>(root => root.HasKey(r => r.Id));
        modelBuilder.Entity<IssuedCertificate>(cert =>
        {
            cert.HasKey(c => c.Serial);
            cert.Property(c => c.Serial).HasMaxLength(64);
            cert.Property(c => c.Thumbprint).HasMaxLength(64);
            cert.Property(c => c.Kind).HasConversion<string>().HasMaxLength(16);
            cert.HasIndex(c => c.AgentId);
            cert.HasIndex(c => c.NotAfter);
            cert.HasOne<Agent>().WithMany().HasForeignKey(c => c.AgentId).OnDelete(DeleteBehavior.SetNull);
        });
        modelBuilder.Entity<SigningKey>(key =>
        {
            key.HasKey(k => k.Id);
            key.Property(k => k.Id).HasMaxLength(64);
        });

        modelBuilder.Entity<RegistrationToken>(token =>
        {
            token.HasIndex(t => t.TokenHash).IsUnique();
            token.Property(t => t.Description).HasMaxLength(512);
            token.Property(t => t.CreatedBy).HasMaxLength(160);
        });

        modelBuilder.Entity<ApiKey>(key =>
        {
            key.HasIndex(k => k.KeyHash).IsUnique();
            key.Property(k => k.Name).HasMaxLength(128);
            key.Property(k => k.Role).HasConversion<string>().HasMaxLength(16);
            key.Property(k => k.CreatedBy).HasMaxLength(160);
        });

        modelBuilder.Entity<AgentTask>(task =>
        {
            task.Property(t => t.TaskType).HasMaxLength(128);
            task.Property(t => t.Status).HasConversion<string>().HasMaxLength(16);
            task.Property(t => t.IdempotencyKey).HasMaxLength(128);
            task.Property(t => t.CreatedBy).HasMaxLength(160);
            task.Property(t => t.ProgressMessage).HasMaxLength(1024);
            task.Property(t => t.StatusReason).HasMaxLength(512);
            task.HasIndex(t => t.IdempotencyKey).IsUnique();
            task.HasIndex(t => new { t.AgentId, t.Status });
            task.HasIndex(t => new { t.Status, t.CreatedAt });
            task.HasMany(t => t.Logs).WithOne().HasForeignKey(l => l.TaskId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<TaskLog>(log =>
        {
            log.Property(l => l.Level).HasMaxLength(16);
            log.HasIndex(l => new { l.TaskId, l.Id });
        });

        modelBuilder.Entity<Target>(target =>
        {
            target.HasIndex(t => t.Name).IsUnique();
            target.Property(t => t.Name).HasMaxLength(128);
            target.Property(t => t.Type).HasMaxLength(64);
            target.HasIndex(t => t.AgentId);
            target.HasOne<Agent>().WithMany().HasForeignKey(t => t.AgentId).OnDelete(DeleteBehavior.SetNull);
        });

        modelBuilder.Entity<AuditEvent>(audit =>
        {
            audit.Property(a => a.Actor).HasMaxLength(160);
            audit.Property(a => a.Action).HasMaxLength(64);
            audit.Property(a => a.SubjectType).HasMaxLength(32);
            audit.Property(a => a.SubjectId).HasMaxLength(160);
            audit.HasIndex(a => a.Timestamp);
        });
    }

    private sealed class UtcDateTimeConverter() : ValueConverter<DateTime, DateTime>(
        v => v.Kind == DateTimeKind.Utc ? v : DateTime.SpecifyKind(v.ToUniversalTime(), DateTimeKind.Utc),
        v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
}

public sealed class SqliteOrchestratorDbContext(DbContextOptions<SqliteOrchestratorDbContext> options) : OrchestratorDbContext(options);

public sealed class PostgresOrchestratorDbContext(DbContextOptions<PostgresOrchestratorDbContext> options) : OrchestratorDbContext(options);
