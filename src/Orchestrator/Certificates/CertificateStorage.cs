using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Orchestrator.Data;

namespace Orchestrator.Certificates;

/// <summary>The CA's tables: roots, every issued certificate, token signing keys.</summary>
public static class CertificateStorage
{
    extension(OrchestratorDbContext db)
    {
        public DbSet<CaRoot> CaRoots => db.Set<CaRoot>();
        public DbSet<IssuedCertificate> IssuedCertificates => db.Set<IssuedCertificate>();
        public DbSet<SigningKey> SigningKeys => db.Set<SigningKey>();
    }
}

internal sealed class CaRootMapping : IEntityTypeConfiguration<CaRoot>
{
    public void Configure(EntityTypeBuilder<CaRoot> root)
    {
        root.ToTable("CaRoots");
        root.HasKey(r => r.Id);
    }
}

internal sealed class IssuedCertificateMapping : IEntityTypeConfiguration<IssuedCertificate>
{
    public void Configure(EntityTypeBuilder<IssuedCertificate> cert)
    {
        cert.ToTable("IssuedCertificates");
        cert.HasKey(c => c.Serial);
        cert.Property(c => c.Serial).HasMaxLength(64);
        cert.Property(c => c.Thumbprint).HasMaxLength(64);
        cert.Property(c => c.Kind).HasConversion<string>().HasMaxLength(16);
        cert.HasIndex(c => c.AgentId);
        cert.HasIndex(c => c.NotAfter);
    }
}

internal sealed class SigningKeyMapping : IEntityTypeConfiguration<SigningKey>
{
    public void Configure(EntityTypeBuilder<SigningKey> key)
    {
        key.ToTable("SigningKeys");
        key.HasKey(k => k.Id);
        key.Property(k => k.Id).HasMaxLength(64);
    }
}
