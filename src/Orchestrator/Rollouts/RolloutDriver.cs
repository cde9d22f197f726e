using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Tasks;

namespace Orchestrator.Rollouts;

/// <summary>Runs on every replica and moves every unfinished rollout on (<see cref="RolloutSteps"/>): the state is in the
/// database and each step holds its rollout's row, so any replica can take the next step, and a restart or a replica's
/// death neither stalls a rollout nor starts a batch twice. A pass runs as soon as a task of a rollout is delivered,
/// starts or ends (task changes, from any replica), a rollout changes, or a pause ends; every
/// <see cref="RolloutOptions.DriverInterval"/> otherwise, which only bounds what a lost event can delay.</summary>
public sealed class RolloutDriver : BackgroundService
{
    private readonly IServiceScopeFactory _scopes;
    private readonly TimeProvider _time;
    private readonly IOptions<RolloutOptions> _options;
    private readonly RolloutMetrics _metrics;
    private readonly ILogger<RolloutDriver> _logger;
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly IDisposable[] _subscriptions;
    private readonly Lock _timerLock = new();
    private ITimer? _timer;

    // The unfinished tasks of unfinished rollouts, as of the last two passes (an end published just after a pass read
    // the task as ended still matches): any change of one not started yet, or the end of any, wakes the driver.
    private Watched _watched = new([], []);
    private Watched _lastRead = new([], []);

    private sealed record Watched(HashSet<Guid> Unfinished, HashSet<Guid> Unstarted);

    public RolloutDriver(IServiceScopeFactory scopes, IClusterEvents cluster, TimeProvider time, IOptions<RolloutOptions> options,
        RolloutMetrics metrics, ILogger<RolloutDriver> logger)
    {
        _scopes = scopes;
        _time = time;
        _options = options;
        _metrics = metrics;
        _logger = logger;
        _subscriptions =
        [
            cluster.Subscribe(TaskChanges.Channel, OnTaskChanged, Wake),
            cluster.Subscribe(RolloutChanges.Channel, _ => Wake(), Wake),
        ];
    }

    /// <summary>Asks for a pass as soon as the current one (if any) is done.</summary>
    public void Wake() => _wake.Writer.TryWrite(true);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        BackgroundLoop.RunAsync(_options.Value.DriverInterval, _time, passAtStart: true, PassAsync, _logger.RolloutDriverFailed,
            _wake.Reader, stoppingToken);

    /// <summary>One pass over every unfinished rollout.</summary>
    private async Task PassAsync(CancellationToken cancellationToken)
    {
        List<(Guid Id, RolloutStatus Status)> active;
        await using (var scope = _scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
            var statuses = RolloutStatuses.Active;
            active = [.. (await db.Rollouts.AsNoTracking().Where(r => statuses.Contains(r.Status)).Select(r => new { r.Id, r.Status })
                .ToListAsync(cancellationToken)).Select(r => (r.Id, r.Status))];
        }

        _metrics.Counted(active.GroupBy(r => r.Status).ToDictionary(g => g.Key, g => g.Count()));
        DateTime? next = null;
        foreach (var (id, _) in active)
        {
            try
            {
                await using var scope = _scopes.CreateAsyncScope();
                var due = await scope.ServiceProvider.GetRequiredService<RolloutSteps>().AdvanceAsync(id, WatchNew, cancellationToken);
                next = due is { } at && (next is null || at < next) ? at : next;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // One rollout that cannot move (the database briefly away) must not hold up the others.
                _logger.RolloutStepFailed(ex, id);
            }
        }

        await RefreshWatchedAsync(cancellationToken);
        Schedule(next);
    }

    private async Task RefreshWatchedAsync(CancellationToken cancellationToken)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var unfinished = AgentTaskStatuses.Unfinished;
        var open = await db.Tasks.AsNoTracking().Where(t => t.RolloutId != null && unfinished.Contains(t.Status))
            .Select(t => new { t.Id, t.Status }).ToListAsync(cancellationToken);
        var next = new Watched(
            [.. open.Select(t => t.Id)],
            [.. open.Where(t => t.Status is AgentTaskStatus.Pending or AgentTaskStatus.Assigned).Select(t => t.Id)]);
        var previous = _lastRead;
        _lastRead = next;
        Volatile.Write(ref _watched, new Watched([.. next.Unfinished, .. previous.Unfinished], [.. next.Unstarted, .. previous.Unstarted]));
    }

    /// <summary>Tasks a step just created, watched before its commit so their first change cannot come unseen.</summary>
    private void WatchNew(IReadOnlyCollection<Guid> taskIds)
    {
        // Passes run one at a time, and only they write the set; the listener reads whichever set is current.
        var watched = Volatile.Read(ref _watched);
        Volatile.Write(ref _watched, new Watched([.. watched.Unfinished, .. taskIds], [.. watched.Unstarted, .. taskIds]));
    }

    private void OnTaskChanged(string payload)
    {
        if (TaskChanges.Parse(payload) is not { } change)
        {
            return;
        }

        var watched = Volatile.Read(ref _watched);
        if (change.Ended ? watched.Unfinished.Contains(change.TaskId) : watched.Unstarted.Contains(change.TaskId))
        {
            Wake();
        }
    }

    /// <summary>A wake-up at the end of the earliest pause, so the next batch starts on time.</summary>
    private void Schedule(DateTime? at)
    {
        lock (_timerLock)
        {
            _timer?.Dispose();
            _timer = at is { } due
                ? _time.CreateTimer(_ => Wake(), null, TimeSpan.FromTicks(Math.Max(0, (due - _time.GetUtcNow().UtcDateTime).Ticks)),
                    Timeout.InfiniteTimeSpan)
                : null;
        }
    }

    public override void Dispose()
    {
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }

        lock (_timerLock)
        {
            _timer?.Dispose();
        }

        base.Dispose();
    }
}
