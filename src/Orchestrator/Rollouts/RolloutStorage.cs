using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Orchestrator.Data;

namespace Orchestrator.Rollouts;

public static class RolloutStorage
{
    extension(OrchestratorDbContext db)
    {
        public DbSet<Rollout> Rollouts => db.Set<Rollout>();
        public DbSet<RolloutTarget> RolloutTargets => db.Set<RolloutTarget>();
        public DbSet<RolloutEvent> RolloutEvents => db.Set<RolloutEvent>();
    }
}

internal sealed class RolloutMapping : IEntityTypeConfiguration<Rollout>
{
    public void Configure(EntityTypeBuilder<Rollout> rollout)
    {
        rollout.ToTable("Rollouts");
        rollout.Property(r => r.Name).HasMaxLength(128);
        rollout.Property(r => r.Status).HasConversion<string>().HasMaxLength(16);
        rollout.Property(r => r.StatusReason).HasMaxLength(512);
        rollout.Property(r => r.TaskType).HasMaxLength(128);
        rollout.Property(r => r.IdempotencyKey).HasMaxLength(128);
        rollout.Property(r => r.CreatedBy).HasMaxLength(160);
        rollout.Property(r => r.CancelledBy).HasMaxLength(160);
        rollout.HasIndex(r => r.IdempotencyKey).IsUnique();
        rollout.HasIndex(r => r.Status);
        rollout.HasMany(r => r.Targets).WithOne().HasForeignKey(t => t.RolloutId).OnDelete(DeleteBehavior.Cascade);
        rollout.HasMany<RolloutEvent>().WithOne().HasForeignKey(e => e.RolloutId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class RolloutTargetMapping : IEntityTypeConfiguration<RolloutTarget>
{
    public void Configure(EntityTypeBuilder<RolloutTarget> target)
    {
        target.ToTable("RolloutTargets");
        // One row per agent and rollout: no agent can be a target twice, so it never gets two tasks of one rollout.
        target.HasKey(t => new { t.RolloutId, t.AgentId });
        target.Property(t => t.AgentName).HasMaxLength(128);
        target.Property(t => t.Status).HasConversion<string>().HasMaxLength(16);
        target.Property(t => t.StatusReason).HasMaxLength(512);
        target.HasIndex(t => new { t.RolloutId, t.Position });
    }
}

internal sealed class RolloutEventMapping : IEntityTypeConfiguration<RolloutEvent>
{
    public void Configure(EntityTypeBuilder<RolloutEvent> rolloutEvent)
    {
        rolloutEvent.ToTable("RolloutEvents");
        rolloutEvent.Property(e => e.Type).HasMaxLength(RolloutEvent.MaxTypeLength);
        rolloutEvent.HasIndex(e => new { e.RolloutId, e.Id });
    }
}
