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
        public DbSet<RevocationMark> RevocationMarks => db.Set<RevocationMark>();

        /// <summary>Moves the revocation high-water mark on. Call it inside the transaction that revokes, after the
        /// revoking statement: a replica that sees the new mark then also sees the revocation.</summary>
        public Task MarkRevocationAsync(CancellationToken cancellationToken) =>
            db.RevocationMarks.Where(m => m.Id == RevocationMark.SingletonId)
                .ExecuteUpdateAsync(u => u.SetProperty(m => m.Version, m => m.Version + 1), cancellationToken);
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

internal sealed class RevocationMarkMapping : IEntityTypeConfiguration<RevocationMark>
{
    public void Configure(EntityTypeBuilder<RevocationMark> mark)
    {
        mark.ToTable("RevocationMarks");
        mark.HasKey(m => m.Id);
        mark.Property(m => m.Id).ValueGeneratedNever();
        // The row exists from the migration on, so revoking never has to create it (and two revocations never race to).
        mark.HasData(new RevocationMark { Id = RevocationMark.SingletonId, Version = 0 });
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
