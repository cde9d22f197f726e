using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Orchestrator.Data;

namespace Orchestrator.Registration;

public static class RegistrationStorage
{
    extension(OrchestratorDbContext db)
    {
        public DbSet<RegistrationToken> RegistrationTokens => db.Set<RegistrationToken>();
    }
}

internal sealed class RegistrationTokenMapping : IEntityTypeConfiguration<RegistrationToken>
{
    public void Configure(EntityTypeBuilder<RegistrationToken> token)
    {
        token.ToTable("RegistrationTokens");
        token.HasIndex(t => t.TokenHash).IsUnique();
        token.Property(t => t.Description).HasMaxLength(512);
        token.Property(t => t.CreatedBy).HasMaxLength(160);
    }
}
