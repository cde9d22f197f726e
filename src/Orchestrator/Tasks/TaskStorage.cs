using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Orchestrator.Data;

namespace Orchestrator.Tasks;

public static class TaskStorage
{
    extension(OrchestratorDbContext db)
    {
        public DbSet<AgentTask> Tasks => db.Set<AgentTask>();
        public DbSet<TaskLog> TaskLogs => db.Set<TaskLog>();
    }
}

internal sealed class AgentTaskMapping : IEntityTypeConfiguration<AgentTask>
{
    public void Configure(EntityTypeBuilder<AgentTask> task)
    {
        task.ToTable("Tasks");
        task.Property(t => t.TaskType).HasMaxLength(128);
        task.Property(t => t.Status).HasConversion<string>().HasMaxLength(16);
        task.Property(t => t.IdempotencyKey).HasMaxLength(128);
        task.Property(t => t.CreatedBy).HasMaxLength(160);
        task.Property(t => t.ProgressMessage).HasMaxLength(1024);
        task.Property(t => t.StatusReason).HasMaxLength(AgentTask.MaxStatusReasonLength);
        task.Property(t => t.TraceParent).HasMaxLength(AgentTask.MaxTraceParentLength);
        task.Property(t => t.ResultHash).HasMaxLength(TaskResultJson.HashLength);
        task.HasIndex(t => t.IdempotencyKey).IsUnique();
        task.HasIndex(t => new { t.AgentId, t.Status });
        task.HasIndex(t => new { t.Status, t.CreatedAt });
        // No agent ever gets two tasks of one rollout, whatever a rollout's driver does twice (tasks without a rollout
        // have a null RolloutId, which never collides).
        task.HasIndex(t => new { t.RolloutId, t.AgentId }).IsUnique();
        task.HasMany(t => t.Logs).WithOne().HasForeignKey(l => l.TaskId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class TaskLogMapping : IEntityTypeConfiguration<TaskLog>
{
    public void Configure(EntityTypeBuilder<TaskLog> log)
    {
        log.ToTable("TaskLogs");
        log.Property(l => l.Level).HasMaxLength(TaskLog.MaxLevelLength);
        log.HasIndex(l => new { l.TaskId, l.Id });
    }
}
