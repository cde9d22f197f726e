using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Orchestrator.Data;

namespace Orchestrator.Audit;

public static class AuditStorage
{
    extension(OrchestratorDbContext db)
    {
        public DbSet<AuditEvent> AuditEvents => db.Set<AuditEvent>();
    }
}

internal sealed class AuditEventMapping : IEntityTypeConfiguration<AuditEvent>
{
    public void Configure(EntityTypeBuilder<AuditEvent> audit)
    {
        audit.ToTable("AuditEvents");
        audit.Property(a => a.Actor).HasMaxLength(160);
        audit.Property(a => a.Action).HasMaxLength(64);
        audit.Property(a => a.SubjectType).HasMaxLength(32);
        audit.Property(a => a.SubjectId).HasMaxLength(160);
        audit.HasIndex(a => a.Timestamp);
    }
}
