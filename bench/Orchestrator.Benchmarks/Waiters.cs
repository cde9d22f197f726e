using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Orchestrator.Benchmarks;

/// <summary>Clients that wait for tasks, as CI pipelines running <c>orchestrator tasks create --wait --follow</c> do:
/// long-polls (<c>GET /api/v1/tasks/{taskId}?wait=60</c>, asked again whenever answered) and Server-Sent Event
/// followers (<c>GET /api/v1/tasks/{taskId}/events</c>), spread over a pool of pending tasks of an agent outside the
/// heartbeat fleet. While they wait, one of their tasks is cancelled every so often, so waits and streams are woken,
/// answered and reopened on another task during the measurement, not only held.</summary>
public sealed class Waiters : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private readonly HttpClient _client;
    private readonly List<Guid> _tasks;
    private readonly StrongBox<int> _cancelledUpTo;
    private long _waitsAnswered;
    private long _eventsReceived;
    private long _errors;
    private long _cancelled;

    private Waiters(HttpClient client, List<Guid> tasks, StrongBox<int> cancelledUpTo)
    {
        _client = client;
        _tasks = tasks;
        _cancelledUpTo = cancelledUpTo;
    }

    public long WaitsAnswered => Interlocked.Read(ref _waitsAnswered);
    public long EventsReceived => Interlocked.Read(ref _eventsReceived);
    public long Errors => Interlocked.Read(ref _errors);
    public long Cancelled => Interlocked.Read(ref _cancelled);

    /// <summary>Pending tasks of one agent that never heartbeats (so nothing delivers them), created up front: the pool
    /// the waiters watch and the churn cancels.</summary>
    public static async Task<List<Guid>> CreatePoolAsync(Uri address, Guid agentId, int count)
    {
        using var admin = Agents.NewClient(address, null, null, ServiceProcess.AdminKey);
        var tasks = new ConcurrentBag<Guid>();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (n, ct) =>
        {
            var response = await admin.PostAsJsonAsync("/api/v1/tasks", new { taskType = "bench.wait", agentId, timeout = 3600, payload = new { n } }, ct);
            response.EnsureSuccessStatusCode();
            tasks.Add((await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("taskId").GetGuid());
        });
        return [.. tasks];
    }

    /// <summary>Starts <paramref name="waits"/> long-polls and <paramref name="followers"/> event streams, several on each
    /// task of the pool's live window: the tasks after the <paramref name="cancelledUpTo"/> first, which earlier runs'
    /// churn has cancelled (shared across runs, so no run waits on an ended task).</summary>
    public static Waiters Start(HttpClient client, List<Guid> pool, StrongBox<int> cancelledUpTo, int waits, int followers)
    {
        var waiters = new Waiters(client, pool, cancelledUpTo) { _watchedAtOnce = Math.Clamp((waits + followers) / 10, 1, pool.Count) };
        for (var i = 0; i < waits; i++)
        {
            var slot = i;
            waiters._loops.Add(Task.Run(() => waiters.WaitLoopAsync(slot)));
        }

        for (var i = 0; i < followers; i++)
        {
            var slot = i;
            waiters._loops.Add(Task.Run(() => waiters.FollowLoopAsync(slot)));
        }

        return waiters;
    }

    /// <summary>The waiters' client: one connection per waiting request, as separate CI jobs have. Runs share it, so a
    /// later run reuses the connections (and TLS sessions) of an earlier one instead of measuring 1,250 handshakes.</summary>
    public static HttpClient NewClient(Uri address)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true },
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
        };
        var client = new HttpClient(handler) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(90) };
        client.DefaultRequestHeaders.Add("X-Api-Key", ServiceProcess.AdminKey);
        return client;
    }

    /// <summary>From now on, cancels a watched task every <paramref name="every"/>.</summary>
    public void StartChurn(TimeSpan every) => _loops.Add(Task.Run(() => ChurnAsync(every)));

    private int _watchedAtOnce;

    /// <summary>The task a slot watches: slots share the live window of the pool, which moves on as tasks are cancelled.</summary>
    private Guid TaskFor(int slot)
    {
        var start = Volatile.Read(ref _cancelledUpTo.Value);
        var index = start + (slot % _watchedAtOnce);
        return _tasks[Math.Min(index, _tasks.Count - 1)];
    }

    private async Task WaitLoopAsync(int slot)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var response = await _client.GetAsync($"/api/v1/tasks/{TaskFor(slot)}?wait=60", _stop.Token);
                await response.Content.ReadAsByteArrayAsync(_stop.Token);
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref _waitsAnswered);
                }
                else
                {
                    Interlocked.Increment(ref _errors);
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref _errors);
            }
        }
    }

    private async Task FollowLoopAsync(int slot)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var response = await _client.GetAsync($"/api/v1/tasks/{TaskFor(slot)}/events", HttpCompletionOption.ResponseHeadersRead, _stop.Token);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref _errors);
                    continue;
                }

                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(_stop.Token));
                while (await reader.ReadLineAsync(_stop.Token) is { } line)
                {
                    if (line.StartsWith("event:", StringComparison.Ordinal))
                    {
                        Interlocked.Increment(ref _eventsReceived);
                    }
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException)
            {
                Interlocked.Increment(ref _errors);
            }
        }
    }

    /// <summary>Cancels the oldest watched task every interval (a pending task ends at once): its waits are answered and
    /// its streams end, and their clients move on to the next task of the pool.</summary>
    private async Task ChurnAsync(TimeSpan every)
    {
        using var admin = Agents.NewClient(_client.BaseAddress!, null, null, ServiceProcess.AdminKey);
        using var timer = new PeriodicTimer(every);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                var index = Volatile.Read(ref _cancelledUpTo.Value);
                if (index + _watchedAtOnce >= _tasks.Count)
                {
                    // The pool is used up: keep the waiters on the last window rather than fail.
                    continue;
                }

                using var response = await admin.PostAsync($"/api/v1/tasks/{_tasks[index]}/cancel", null, _stop.Token);
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref _cancelled);
                }
                else
                {
                    Interlocked.Increment(ref _errors);
                }

                Volatile.Write(ref _cancelledUpTo.Value, index + 1);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Reads the service's <c>orchestrator_task_watches_open</c> gauge until it reaches <paramref name="count"/>:
    /// the waits and streams are held by the service, not merely sent.</summary>
    public static async Task<long> HeldAsync(Uri address, int count, TimeSpan within)
    {
        using var client = Agents.NewClient(address, null, null);
        var clock = Stopwatch.StartNew();
        long open = 0;
        while (clock.Elapsed < within)
        {
            var metrics = await client.GetStringAsync("/metrics");
            var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("orchestrator_task_watches_open ", StringComparison.Ordinal));
            open = line is null ? -1 : long.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture);
            if (open >= count)
            {
                return open;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"only {open} of {count} waits and streams were held after {within.TotalSeconds:F0} s");
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_loops.Select(l => l.ContinueWith(_ => { }, TaskScheduler.Default)));
        _stop.Dispose();
    }
}
