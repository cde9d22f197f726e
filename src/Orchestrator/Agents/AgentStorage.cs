using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Orchestrator.Certificates;
using Orchestrator.Data;
using Orchestrator.Targets;

namespace Orchestrator.Agents;

/// <summary>The agents' tables, and the rows of other features that belong to an agent.</summary>
public static class AgentStorage
{
    extension(OrchestratorDbContext db)
    {
        public DbSet<Agent> Agents => db.Set<Agent>();
        public DbSet<AgentLabel> AgentLabels => db.Set<AgentLabel>();
        public DbSet<AgentCapability> AgentCapabilities => db.Set<AgentCapability>();
    }

    /// <summary>The agents a selector picks: every capability given, and every label with its value. Task selectors,
    /// agent lists and rollouts filter through this one query.</summary>
    public static IQueryable<Agent> Matching(
        this IQueryable<Agent> agents, IEnumerable<string> capabilities, IEnumerable<KeyValuePair<string, string>> labels)
    {
        foreach (var capability in capabilities.Distinct(StringComparer.Ordinal))
        {
            agents = agents.Where(a => a.Capabilities.Any(c => c.Name == capability));
        }

        foreach (var (key, value) in labels)
        {
            agents = agents.Where(a => a.Labels.Any(l => l.Key == key && l.Value == value));
        }

        return agents;
    }

    /// <summary>The agents offered a task of <paramref name="taskType"/>: those that run it, and those that reported no
    /// task types (older agents, which are offered any).</summary>
    public static IQueryable<Agent> Running(this IQueryable<Agent> agents, string taskType)
    {
        var delimited = "," + taskType + ",";
        return agents.Where(a => a.TaskTypes == null || ("," + a.TaskTypes + ",").Contains(delimited));
    }
}

internal sealed class AgentMapping : IEntityTypeConfiguration<Agent>
{
    public void Configure(EntityTypeBuilder<Agent> agent)
    {
        agent.ToTable("Agents");
        agent.HasIndex(a => a.Name).IsUnique();
        agent.Property(a => a.Name).HasMaxLength(128);
        agent.Property(a => a.Version).HasMaxLength(64);
        agent.Property(a => a.TaskTypes).HasMaxLength(AgentRules.MaxTaskTypes * 129);
        agent.Property(a => a.Status).HasConversion<string>().HasMaxLength(16);
        agent.Property(a => a.DrainReason).HasMaxLength(512);
        agent.HasIndex(a => new { a.Status, a.LastHeartbeat });
        agent.HasMany(a => a.Labels).WithOne().HasForeignKey(l => l.AgentId).OnDelete(DeleteBehavior.Cascade);
        agent.HasMany(a => a.Capabilities).WithOne().HasForeignKey(c => c.AgentId).OnDelete(DeleteBehavior.Cascade);

        // Certificates and targets name their agent, and outlive it (revoked, unassigned). Their keys are mapped here, in
        // the feature above them: Certificates and Targets do not know agents.
        agent.HasMany<IssuedCertificate>().WithOne().HasForeignKey(c => c.AgentId).OnDelete(DeleteBehavior.SetNull);
        agent.HasMany<Target>().WithOne().HasForeignKey(t => t.AgentId).OnDelete(DeleteBehavior.SetNull);
    }
}

internal sealed class AgentLabelMapping : IEntityTypeConfiguration<AgentLabel>
{
    public void Configure(EntityTypeBuilder<AgentLabel> label)
    {
        label.ToTable("AgentLabels");
        label.HasKey(l => new { l.AgentId, l.Key });
        label.Property(l => l.Key).HasMaxLength(63);
        label.Property(l => l.Value).HasMaxLength(255);
        label.HasIndex(l => new { l.Key, l.Value });
    }
}

internal sealed class AgentCapabilityMapping : IEntityTypeConfiguration<AgentCapability>
{
    public void Configure(EntityTypeBuilder<AgentCapability> capability)
    {
        capability.ToTable("AgentCapabilities");
        capability.HasKey(c => new { c.AgentId, c.Name });
        capability.Property(c => c.Name).HasMaxLength(32);
        capability.HasIndex(c => c.Name);
    }
}
