using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Orchestrator.Data;

namespace Orchestrator.ApiKeys;

public static class ApiKeyStorage
{
    extension(OrchestratorDbContext db)
    {
        public DbSet<ApiKey> ApiKeys => db.Set<ApiKey>();
    }
}

internal sealed class ApiKeyMapping : IEntityTypeConfiguration<ApiKey>
{
    public void Configure(EntityTypeBuilder<ApiKey> key)
    {
        key.ToTable("ApiKeys");
        key.HasIndex(k => k.KeyHash).IsUnique();
        key.Property(k => k.Name).HasMaxLength(128);
        key.Property(k => k.Role).HasConversion<string>().HasMaxLength(16);
        key.Property(k => k.CreatedBy).HasMaxLength(160);
    }
}
