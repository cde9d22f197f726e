using Microsoft.AspNetCore.Http.HttpResults;
using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Agents;
using Orchestrator.Data;
using Orchestrator.Streams;
using Orchestrator.Tasks;

namespace Orchestrator.Health;

public static class MetricsEndpoint
{
    /// <summary>Prometheus text: fleet and task counts (from the database, so every replica reports the same) and
    /// this replica's open task streams and task watches. Counts only, nothing identifying, so it needs no key.</summary>
    public static IEndpointRouteBuilder MapMetrics(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/metrics", Render).WithTags("Health").WithSummary("Prometheus metrics");
        return routes;
    }

    private static async Task<ContentHttpResult> Render(OrchestratorDbContext db, StreamRegistry streams, TaskChanges changes,
        CancellationToken cancellationToken)
    {
        var agents = await db.Agents.GroupBy(a => a.Status).Select(g => new { g.Key, Count = g.Count() }).ToListAsync(cancellationToken);
        var draining = await db.Agents.CountAsync(a => a.DrainRequestedAt != null, cancellationToken);
        var tasks = await db.Tasks.GroupBy(t => t.Status).Select(g => new { g.Key, Count = g.Count() }).ToListAsync(cancellationToken);

        var text = new StringBuilder();
        text.AppendLine("# HELP orchestrator_agents Registered agents by status.");
        text.AppendLine("# TYPE orchestrator_agents gauge");
        foreach (var status in Enum.GetValues<AgentStatus>())
        {
            Line(text, "orchestrator_agents", "status", status.ToString().ToLowerInvariant(),
                agents.FirstOrDefault(a => a.Key == status)?.Count ?? 0);
        }

        text.AppendLine("# HELP orchestrator_agents_draining Agents that take no new tasks.");
        text.AppendLine("# TYPE orchestrator_agents_draining gauge");
        text.AppendLine(CultureInfo.InvariantCulture, $"orchestrator_agents_draining {draining}");
        text.AppendLine("# HELP orchestrator_tasks Tasks by status (ended tasks until retention removes them).");
        text.AppendLine("# TYPE orchestrator_tasks gauge");
        foreach (var status in Enum.GetValues<AgentTaskStatus>())
        {
            Line(text, "orchestrator_tasks", "status", status.WireName(), tasks.FirstOrDefault(t => t.Key == status)?.Count ?? 0);
        }

        text.AppendLine("# HELP orchestrator_task_streams_open WebSocket task streams open on this replica.");
        text.AppendLine("# TYPE orchestrator_task_streams_open gauge");
        text.AppendLine(CultureInfo.InvariantCulture, $"orchestrator_task_streams_open {streams.Count}");
        text.AppendLine("# HELP orchestrator_task_watches_open Requests held on this replica until a task changes: ?wait= and /events.");
        text.AppendLine("# TYPE orchestrator_task_watches_open gauge");
        text.AppendLine(CultureInfo.InvariantCulture, $"orchestrator_task_watches_open {changes.Watching()}");
        return TypedResults.Text(text.ToString(), "text/plain; version=0.0.4", Encoding.UTF8);
    }

    private static void Line(StringBuilder text, string name, string label, string value, int count) =>
        text.AppendLine(CultureInfo.InvariantCulture, $"{name}{{{label}=\"{value}\"}} {count}");
}
