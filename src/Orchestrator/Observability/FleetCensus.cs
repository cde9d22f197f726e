using System.Diagnostics.Metrics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Agents;
using Orchestrator.Certificates;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Tasks;

namespace Orchestrator.Observability;

/// <summary>The fleet's state as gauges: agents by status, draining agents, unfinished tasks by status (pending is the
/// queue depth) and the remaining lifetime of the agent certificate that expires first. Counted from the database, so
/// every replica reports the whole fleet (aggregate replicas with <c>max</c>, not <c>sum</c>), every
/// <see cref="MetricsOptions.CensusInterval"/> in the background; a scrape reads the last counts from memory, so
/// scrapes, however frequent, cost the database nothing.</summary>
public sealed class FleetCensus(
    IServiceScopeFactory scopes,
    IOptions<MetricsOptions> options,
    IOptions<CertificateOptions> certificates,
    IMeterFactory meters,
    TimeProvider time,
    ILogger<FleetCensus> logger) : BackgroundService
{
    private static readonly AgentTaskStatus[] Unfinished = AgentTaskStatuses.Unfinished;

    private Counts? _counts;

    /// <param name="Agents">Agents by status.</param>
    /// <param name="Draining">Agents asked to drain, whatever their status.</param>
    /// <param name="Tasks">Unfinished tasks by status.</param>
    /// <param name="EarliestCertificateExpiry">The earliest expiry among the newest unrevoked certificates of agents
    /// that are not offline (an offline agent cannot renew, and its status already says so); null without any.</param>
    public sealed record Counts(
        IReadOnlyDictionary<AgentStatus, int> Agents, int Draining, IReadOnlyDictionary<AgentTaskStatus, int> Tasks,
        DateTime? EarliestCertificateExpiry);

    /// <summary>The last counts, or null before the first pass finished.</summary>
    public Counts? Last => Volatile.Read(ref _counts);

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        CreateInstruments();
        return BackgroundLoop.RunAsync(options.Value.CensusInterval, time, passAtStart: true, CountAsync, logger.CensusFailed, stoppingToken);
    }

    /// <summary>One pass: three grouped reads, then the new counts replace the old at once.</summary>
    public async Task CountAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var agents = await db.Agents.AsNoTracking()
            .GroupBy(a => a.Status)
            .Select(g => new { Status = g.Key, Count = g.Count(), Draining = g.Count(a => a.DrainRequestedAt != null) })
            .ToListAsync(cancellationToken);
        var tasks = await db.Tasks.AsNoTracking()
            .Where(t => Unfinished.Contains(t.Status))
            .GroupBy(t => t.Status)
            .Select(g => new { Status = g.Key, Count = g.Count() })
            .ToListAsync(cancellationToken);
        var live = db.Agents.Where(a => a.Status != AgentStatus.Offline).Select(a => (Guid?)a.Id);
        var earliest = await db.IssuedCertificates.AsNoTracking()
            .Where(c => c.Kind == CertificateKind.Agent && c.RevokedAt == null && live.Contains(c.AgentId))
            .GroupBy(c => c.AgentId)
            .Select(g => (DateTime?)g.Max(c => c.NotAfter))
            .OrderBy(notAfter => notAfter)
            .FirstOrDefaultAsync(cancellationToken);

        Volatile.Write(ref _counts, new Counts(
            Enum.GetValues<AgentStatus>().ToDictionary(s => s, s => agents.FirstOrDefault(a => a.Status == s)?.Count ?? 0),
            agents.Sum(a => a.Draining),
            Unfinished.ToDictionary(s => s, s => tasks.FirstOrDefault(t => t.Status == s)?.Count ?? 0),
            earliest is { } at ? DateTime.SpecifyKind(at, DateTimeKind.Utc) : null));
    }

    private void CreateInstruments()
    {
        var meter = meters.OrchestratorMeter();
        meter.CreateObservableUpDownCounter("orchestrator.agents", ObserveAgents, "{agent}",
            "Registered agents by status (online, degraded, offline), for the whole fleet.");
        meter.CreateObservableUpDownCounter("orchestrator.agents.draining", ObserveDraining, "{agent}",
            "Agents draining: they finish their tasks and take no new ones.");
        meter.CreateObservableUpDownCounter("orchestrator.tasks", ObserveTasks, "{task}",
            "Unfinished tasks by status (pending, assigned, running, cancelling); pending is the queue depth.");
        meter.CreateObservableGauge("orchestrator.agent.certificate.min_remaining", ObserveCertificateRemaining, "s",
            "Time until the earliest expiry among the current certificates of agents that are not offline.");
        meter.CreateObservableGauge("orchestrator.agent.certificate.renew_before", ObserveRenewBefore, "s",
            "Orchestrator:Certificates:RenewBefore: agents renew when their certificate has less than this left.");
    }

    private IEnumerable<Measurement<int>> ObserveAgents() =>
        Last is { } counts
            ? counts.Agents.Select(a => new Measurement<int>(a.Value,
                new KeyValuePair<string, object?>(AgentMetrics.StatusAttribute, AgentMetrics.StatusName(a.Key))))
            : [];

    private IEnumerable<Measurement<int>> ObserveDraining() => Last is { } counts ? [new Measurement<int>(counts.Draining)] : [];

    private IEnumerable<Measurement<int>> ObserveTasks() =>
        Last is { } counts
            ? counts.Tasks.Select(t => new Measurement<int>(t.Value,
                new KeyValuePair<string, object?>(TaskMetrics.StatusAttribute, t.Key.WireName())))
            : [];

    // Computed when read, from the expiry counted last, so the value keeps falling between passes as time does.
    private IEnumerable<Measurement<double>> ObserveCertificateRemaining() =>
        Last?.EarliestCertificateExpiry is { } expiry
            ? [new Measurement<double>((expiry - time.GetUtcNow().UtcDateTime).TotalSeconds)]
            : [];

    private double ObserveRenewBefore() => certificates.Value.RenewBefore.TotalSeconds;
}
