using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Agents;
using Orchestrator.Certificates;
using Orchestrator.Data;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Agents;

/// <summary>Seeds agents straight into storage and drives the service's clock for liveness tests.</summary>
internal static class AgentTestSupport
{
    public static readonly DateTimeOffset Start = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    public static FakeTimeProvider NewClock(DateTimeOffset? at = null) => new(at ?? Start);

    /// <summary>The service's clock: the test's fake one (or the system's), kept on the database's time where the test
    /// turned that on (DatabaseClock).</summary>
    public static DateTime Now(this TestApp app) => app.Services.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime;

    /// <summary>An agent written straight into storage, as registration leaves it, dated by the service's clock (the
    /// fake one when the test has one). Its name is unique unless given, so it suits shared hosts.</summary>
    public static async Task<Guid> SeedAgentAsync(
        this TestApp app,
        string? name = null,
        AgentStatus status = AgentStatus.Online,
        string[]? capabilities = null,
        Dictionary<string, string>? labels = null,
        bool draining = false,
        DateTime? lastHeartbeat = null,
        DateTime? certificateNotAfter = null,
        string[]? taskTypes = null)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var now = app.Now();
        var agent = new Agent
        {
            Id = Guid.CreateVersion7(),
            Name = name ?? SharedApps.Unique("agent"),
            Version = "1.0.0",
            Status = status,
            RegisteredAt = now,
            StatusChangedAt = now,
            LastHeartbeat = lastHeartbeat ?? now,
            DrainRequestedAt = draining ? now : null,
            TaskTypes = taskTypes is null ? null : string.Join(',', taskTypes.Order(StringComparer.Ordinal)),
            Capabilities = (capabilities ?? ["docker"]).Select(c => new AgentCapability { Name = c }).ToList(),
            Labels = (labels ?? []).Select(l => new AgentLabel { Key = l.Key, Value = l.Value }).ToList(),
        };
        db.Agents.Add(agent);
        if (certificateNotAfter is not null)
        {
            db.IssuedCertificates.Add(new IssuedCertificate
            {
                Serial = Guid.NewGuid().ToString("N").ToUpperInvariant(),
                AgentId = agent.Id,
                Kind = CertificateKind.Agent,
                RootId = Guid.NewGuid(),
                Thumbprint = Guid.NewGuid().ToString("N"),
                NotBefore = now.AddMinutes(-5),
                NotAfter = certificateNotAfter.Value,
                IssuedAt = now,
            });
        }

        await db.SaveChangesAsync();
        return agent.Id;
    }

    public static async Task<Agent> LoadAgentAsync(this TestApp app, Guid id)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        return await db.Agents.AsNoTracking().Include(a => a.Capabilities).SingleAsync(a => a.Id == id);
    }

    public static async Task<T> QueryAsync<T>(this TestApp app, Func<OrchestratorDbContext, Task<T>> query)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>());
    }

    public static LivenessMonitor Monitor(this TestApp app) => app.Services.GetRequiredService<LivenessMonitor>();

    /// <summary>Moves the service clock forward one monitor tick at a time and waits for each tick's check to finish,
    /// so a test sees exactly what the running monitor decided at that time.</summary>
    public static async Task AdvanceAsync(this TestApp app, TimeSpan by)
    {
        var monitor = app.Monitor();
        var step = monitor.TickInterval;
        Assert.True(by.Ticks % step.Ticks == 0, $"Advance in multiples of the monitor tick ({step}).");
        for (var moved = TimeSpan.Zero; moved < by; moved += step)
        {
            app.Time!.Advance(step);
            var due = app.Now();
            // A pass that marks agents offline also waits (in real time, at most 5 s) for its cluster event to be
            // sent, and a loaded machine adds seconds to that: the bound only limits a failure. A failure names what
            // the service logged at warning and above, so a pass that threw says why.
            try
            {
                await Poll.Until(() => monitor.LastCheck >= due, $"the liveness check at {due:O}", TimeSpan.FromSeconds(30));
            }
            catch (Xunit.Sdk.XunitException timedOut)
            {
                var logged = app.Logs.Events.Where(e => e.Level >= Serilog.Events.LogEventLevel.Warning)
                    .Select(e => $"{e.RenderMessage()} {e.Exception?.GetType().Name}: {e.Exception?.Message}");
                throw new Xunit.Sdk.XunitException($"{timedOut.Message} Service log: {string.Join(" | ", logged)}");
            }
        }
    }

    public static Heartbeat Healthy(string[]? capabilities = null, double cpu = 10, int runningTasks = 0) =>
        new(AgentStatus.Online, cpu, 20, 30, capabilities, runningTasks, null);

    public static Heartbeat Degraded(string[]? capabilities = null) =>
        new(AgentStatus.Degraded, 95, 20, 30, capabilities, 0, null);

    public static Task<bool> HeartbeatAsync(this TestApp app, Guid id, Heartbeat heartbeat) =>
        app.Services.GetRequiredService<HeartbeatProcessor>().ProcessAsync(id, heartbeat, CancellationToken.None);
}
