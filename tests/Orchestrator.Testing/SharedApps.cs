using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Hosting;

namespace Orchestrator.Testing;

/// <summary>One running service per storage provider, shared by the tests of a class: declare
/// <c>IClassFixture&lt;SharedApps&gt;</c>, take it in the constructor, and call <see cref="For"/> in each test. A host
/// starts on first use and stops after the class's last test.
/// <para>xunit runs the tests of one class one after another, and classes side by side on their own hosts, so a shared
/// host sees one test at a time; but it keeps what earlier tests left. A test on it therefore makes its own data (its
/// own agents, tokens, keys and tasks, with unique names) and asserts on that data only, never on totals, and leaves
/// the host as it found it: nothing that changes the service for everyone (a CA rotation, revoking the admin key,
/// stopping it). Tests that need a fake clock, their own settings, an empty database, restarts or replicas start
/// their own host with <see cref="TestApp.StartAsync"/>.</para>
/// <para>A test project whose classes all need the same settings (short agent intervals, say) derives a fixture of its
/// own with the protected constructor.</para></summary>
public class SharedApps : IAsyncLifetime
{
    private readonly Dictionary<string, string?> _settings = new()
    {
        // All of a class's tests register from one address, far more often than one machine would: the registration
        // rate limit (60 a minute by default) is lifted here; its own tests set it on hosts of their own.
        ["Orchestrator:RateLimits:RegistrationsPerMinute"] = "100000",
    };

    private readonly ConcurrentDictionary<DatabaseProvider, Lazy<Task<TestApp>>> _apps = new();
    private readonly Func<FakeTimeProvider>? _clock;

    public SharedApps()
    {
    }

    /// <summary>Hosts with these settings besides the defaults above, and, given <paramref name="clock"/>, each on a fake
    /// clock of its own made by it (see <see cref="ClockApps"/>).</summary>
    protected SharedApps(IDictionary<string, string?> settings, Func<FakeTimeProvider>? clock = null)
    {
        foreach (var (key, value) in settings)
        {
            _settings[key] = value;
        }

        _clock = clock;
    }

    /// <summary>The class's host on the given provider (a skip, like <see cref="TestApp.StartAsync"/>, where
    /// PostgreSQL is missing outside CI).</summary>
    public Task<TestApp> For(DatabaseProvider provider) =>
        _apps.GetOrAdd(provider, p => new Lazy<Task<TestApp>>(() => TestApp.StartAsync(p, _clock?.Invoke(), _settings))).Value;

    /// <summary>A name no other test uses (agents, targets, keys and idempotency keys are unique per service).</summary>
    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    public Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var app in _apps.Values.Where(a => a.IsValueCreated))
        {
            if (await app.Value.ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default))
            {
                await (await app.Value).DisposeAsync();
            }
        }
    }
}

/// <summary>One service per provider on a fake clock (<see cref="TestApp.Time"/>), shared by the tests of a class, for
/// tests that move time themselves: timeouts, liveness, renewal, waits that must not end by the clock. Each test moves
/// the clock forward only (never back, never to a fixed instant), makes its own agents and tasks, and judges them by
/// durations from its own start, so what earlier tests left behind (agents gone offline as time passed, tasks timed
/// out) does not concern it. Tests that need an instant of their own, a restart or replicas start their own host.</summary>
public sealed class ClockApps() : SharedApps(new Dictionary<string, string?>(), () => new FakeTimeProvider(Start))
{
    /// <summary>Where every shared clock starts: a fixed, ordinary instant (no month or year end nearby).</summary>
    public static readonly DateTimeOffset Start = new(2026, 1, 10, 14, 0, 0, TimeSpan.Zero);
}
