using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Orchestrator.Data;

namespace Orchestrator.Targets;

public static class TargetStorage
{
    extension(OrchestratorDbContext db)
    {
        public DbSet<Target> Targets => db.Set<Target>();
    }
}

internal sealed class TargetMapping : IEntityTypeConfiguration<Target>
{
    public void Configure(EntityTypeBuilder<Target> target)
    {
        target.ToTable("Targets");
        target.HasIndex(t => t.Name).IsUnique();
        target.Property(t => t.Name).HasMaxLength(128);
        target.Property(t => t.Type).HasMaxLength(64);
        target.HasIndex(t => t.AgentId);
    }
}
