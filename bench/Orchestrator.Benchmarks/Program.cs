using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Orchestrator.Benchmarks;

// Usage: bench/run.sh [--agents N] [--seconds S] [--workers W] [--tasks M] [--waiters N] [--followers N] [--churn PER_SECOND]
//                     [--scenario all|heartbeat|stream|many-streams|waiters|herd|startup|metrics|register|deleted-agent] [--streams N] [--out docs/benchmarks.md]
//                     [--service-gc default|server|workstation]
if (args is ["--stream-side", var sideAddress, var sideStreams])
{
    // The many-streams scenario's child process (ManyStreams.cs).
    await StreamSide.RunAsync(new Uri(sideAddress), int.Parse(sideStreams, CultureInfo.InvariantCulture));
    return;
}

var settings = Settings.Parse(args);
ServiceProcess.ServiceGcServer = settings.ServiceGc switch { "workstation" => "0", "server" => "1", _ => null };
Console.WriteLine($"Orchestrator benchmark: {settings}");

await using var postgres = await PostgresCluster.StartAsync();
var workDirectory = Directory.CreateTempSubdirectory("orch-bench-").FullName;
var kek = ServiceProcess.CreateKeyProtectionPfx(workDirectory);
var report = new Report(settings);

if (settings.Scenario is "all" or "heartbeat")
{
    await postgres.CreateDatabaseAsync("bench_heartbeat");
    await using var service = await ServiceProcess.StartAsync(settings.ServiceDll, postgres.ConnectionString("bench_heartbeat"), kek, Path.Combine(workDirectory, "hb"));
    var agents = await Fleet.RegisterAsync(service.Address, settings.Agents);
    Console.WriteLine($"Registered {agents.Count} agents, each with its own certificate");

    // The bare endpoint (no authentication, no work) over the same mTLS connections is the limit; the authenticated
    // no-op shows what authentication costs, the heartbeat what its own work adds. The three alternate twice, so drift
    // in the machine's load hits all alike.
    Func<Fleet.Agent, Task<HttpResponseMessage>> bare = a => a.Client.GetAsync("/health/live");
    Func<Fleet.Agent, Task<HttpResponseMessage>> identity = a => a.Client.GetAsync($"/api/v1/agents/{a.Id}/identity");
    Func<Fleet.Agent, Task<HttpResponseMessage>> beat = Fleet.HeartbeatAsync;

    var limit = new Load.Result();
    var baseline = new Load.Result();
    var heartbeats = new Load.Result();
    // Three rounds and the median of each kind, as the issue measures: single runs on two cores shared with the load
    // generator vary by half (199 to 421/s for the same shared token in one run).
    for (var round = 0; round < 3; round++)
    {
        limit.Add(await Load.RunAsync("bare GET /health/live", agents, bare, settings));
        baseline.Add(await Load.RunAsync("authenticated no-op GET /identity", agents, identity, settings));
        heartbeats.Add(await Load.RunAsync("POST /heartbeat", agents, beat, settings));
    }

    report.Heartbeat(limit, baseline, heartbeats);

    // Where the CPU goes: the bare endpoint and the heartbeat each sampled under the same load, after the measured runs.
    report.CpuProfiles([
        await CpuProfile.RunAsync(service, "bare GET /health/live", agents, bare, settings, workDirectory),
        await CpuProfile.RunAsync(service, "POST /heartbeat", agents, beat, settings, workDirectory),
    ]);
    foreach (var agent in agents)
    {
        agent.Client.Dispose();
    }
}

if (settings.Scenario is "all" or "waiters")
{
    await postgres.CreateDatabaseAsync("bench_waiters");
    await using var service = await ServiceProcess.StartAsync(settings.ServiceDll, postgres.ConnectionString("bench_waiters"), kek, Path.Combine(workDirectory, "wait"));
    var agents = await Fleet.RegisterAsync(service.Address, settings.Agents);
    // The waited-for tasks belong to an agent outside the heartbeat fleet: nothing delivers them, so they stay pending
    // until the churn cancels them, and the fleet's heartbeats find no work, as in the heartbeat scenario.
    var quiet = (await Fleet.RegisterAsync(service.Address, 1))[0];
    var pool = await Waiters.CreatePoolAsync(service.Address, quiet.Id, settings.WaitPool);
    Console.WriteLine($"Registered {agents.Count} agents; {pool.Count} pending tasks to wait for");
    Func<Fleet.Agent, Task<HttpResponseMessage>> beat = Fleet.HeartbeatAsync;

    // Without and with waiting clients, alternately twice, so drift in the machine's load hits both alike.
    var alone = new Load.Result();
    var withWaiters = new Load.Result();
    var held = new List<long>();
    var cancelledUpTo = new StrongBox<int>(0);
    using var waitClient = Waiters.NewClient(service.Address);
    long answered = 0, events = 0, cancelled = 0, errors = 0;
    // Three rounds and the median of each kind, as the issue measures: single runs on two cores shared with the load
    // generator vary by half (199 to 421/s for the same shared token in one run).
    for (var round = 0; round < 3; round++)
    {
        alone.Add(await Load.RunAsync("POST /heartbeat, nobody waiting", agents, beat, settings));
        await using var waiters = Waiters.Start(waitClient, pool, cancelledUpTo, settings.Waits, settings.Followers);
        held.Add(await Waiters.HeldAsync(service.Address, settings.Waits + settings.Followers, TimeSpan.FromSeconds(180)));
        waiters.StartChurn(TimeSpan.FromSeconds(1.0 / settings.Churn));
        withWaiters.Add(await Load.RunAsync($"POST /heartbeat, {settings.Waits} waits + {settings.Followers} event streams open", agents, beat, settings));
        answered += waiters.WaitsAnswered;
        events += waiters.EventsReceived;
        cancelled += waiters.Cancelled;
        errors += waiters.Errors;
    }

    report.Waiters(alone, withWaiters, held.Min(), answered, events, cancelled, errors);
    foreach (var agent in agents.Append(quiet))
    {
        agent.Client.Dispose();
    }
}

if (settings.Scenario is "all" or "stream")
{
    foreach (var replicas in new[] { 1, 2 })
    {
        var database = $"bench_stream_{replicas}";
        await postgres.CreateDatabaseAsync(database);
        var services = new List<ServiceProcess>();
        try
        {
            for (var i = 0; i < replicas; i++)
            {
                services.Add(await ServiceProcess.StartAsync(settings.ServiceDll, postgres.ConnectionString(database), kek, Path.Combine(workDirectory, $"s{replicas}-{i}")));
            }

            var result = await Streams.RunAsync(services, settings);
            report.Stream(replicas, result);
        }
        finally
        {
            foreach (var service in services)
            {
                await service.DisposeAsync();
            }
        }
    }
}

if (settings.Scenario is "all" or "metrics")
{
    // Two replicas on one database, one with metrics off: the same agents' heartbeats through each in turn.
    await postgres.CreateDatabaseAsync("bench_metrics");
    await using var withMetrics = await ServiceProcess.StartAsync(settings.ServiceDll, postgres.ConnectionString("bench_metrics"), kek,
        Path.Combine(workDirectory, "metrics-on"));
    await using var withoutMetrics = await ServiceProcess.StartAsync(settings.ServiceDll, postgres.ConnectionString("bench_metrics"), kek,
        Path.Combine(workDirectory, "metrics-off"), new Dictionary<string, string> { ["Orchestrator__Metrics__Enabled"] = "false" });
    var agents = await Fleet.RegisterAsync(withMetrics.Address, settings.Agents);
    var same = agents.Select(a => a with { Client = Agents.NewClient(withoutMetrics.Address, a.Certificate, a.Token) }).ToList();
    // The replica with metrics off has served nothing yet (registration went through the other): one unmeasured run
    // through each first, or the first measured run is the replica's JIT.
    await Load.RunAsync("warm-up, metrics off", same, Fleet.HeartbeatAsync, settings);
    await Load.RunAsync("warm-up, metrics on", agents, Fleet.HeartbeatAsync, settings);
    var on = new Load.Result();
    var off = new Load.Result();
    // Three rounds and the median of each kind, as the issue measures: single runs on two cores shared with the load
    // generator vary by half (199 to 421/s for the same shared token in one run).
    for (var round = 0; round < 3; round++)
    {
        off.Add(await Load.RunAsync("POST /heartbeat, metrics off", same, Fleet.HeartbeatAsync, settings));
        on.Add(await Load.RunAsync("POST /heartbeat, metrics on", agents, Fleet.HeartbeatAsync, settings));
    }

    report.Metrics(off, on);
    foreach (var agent in agents.Concat(same))
    {
        agent.Client.Dispose();
    }
}

if (settings.Scenario is "all" or "many-streams")
{
    await postgres.CreateDatabaseAsync("bench_many_streams");
    // The stream-holding agents do not heartbeat here (their one connection is the stream, and 10,000 more TLS connections
    // for heartbeats would measure those): offline detection waits 50 minutes instead of 90 s, so they stay online and
    // tasks are accepted for them throughout the run.
    await using var service = await ServiceProcess.StartAsync(settings.ServiceDll, postgres.ConnectionString("bench_many_streams"), kek,
        Path.Combine(workDirectory, "many-streams"), new Dictionary<string, string> { ["Orchestrator__Agents__MissedHeartbeats"] = "100" });
    report.ManyStreams(await ManyStreams.RunAsync(service, settings.StreamCount, settings));
}

if (settings.Scenario is "all" or "register")
{
    await postgres.CreateDatabaseAsync("bench_register");
    await using var service = await ServiceProcess.StartAsync(settings.ServiceDll, postgres.ConnectionString("bench_register"), kek,
        Path.Combine(workDirectory, "register"));
    // Unmeasured first: the service's first registrations are its JIT.
    await Registrations.RunAsync(service.Address, 200, settings.Workers, sharedToken: true);
    var results = new List<Registrations.Result>();
    // Three rounds and the median of each kind, as the issue measures: single runs on two cores shared with the load
    // generator vary by half (199 to 421/s for the same shared token in one run).
    for (var round = 0; round < 3; round++)
    {
        foreach (var shared in new[] { true, false })
        {
            var result = await Registrations.RunAsync(service.Address, settings.Agents, settings.Workers, shared);
            Console.WriteLine($"  registrations, {result.Tokens}: {result.PerSecond:F0}/s, {result.Errors} errors");
            results.Add(result);
        }
    }

    report.Registrations(results);
}

if (settings.Scenario is "all" or "deleted-agent")
{
    // The attack run of issue 28 on both stores: the embedded SQLite database, and two replicas on PostgreSQL.
    var results = new List<DeletedAgent.Result>();
    await using (var sqlite = await ServiceProcess.StartAsync(settings.ServiceDll, null, kek, Path.Combine(workDirectory, "deleted-sqlite")))
    {
        results.Add(await DeletedAgent.RunAsync("SQLite", [sqlite], runs: 5));
    }

    await postgres.CreateDatabaseAsync("bench_deleted_agent");
    await using (var a = await ServiceProcess.StartAsync(settings.ServiceDll, postgres.ConnectionString("bench_deleted_agent"), kek,
                     Path.Combine(workDirectory, "deleted-a")))
    await using (var b = await ServiceProcess.StartAsync(settings.ServiceDll, postgres.ConnectionString("bench_deleted_agent"), kek,
                     Path.Combine(workDirectory, "deleted-b")))
    {
        results.Add(await DeletedAgent.RunAsync("PostgreSQL", [a, b], runs: 5));
    }

    report.DeletedAgent(results);
}

if (settings.Scenario is "all" or "startup")
{
    report.Startup(await Startup.RunAsync(settings, workDirectory));
}

foreach (var sticky in settings.Scenario is "all" or "herd" ? new[] { false, true } : [])
{
    var database = sticky ? "bench_herd_sticky" : "bench_herd";
    await postgres.CreateDatabaseAsync(database);
    // The service's own pool limits (30 connections a replica), as operators run it: the benchmark's larger pool would
    // hide a herd that takes more connections than a default PostgreSQL has.
    var connectionString = postgres.ConnectionString(database).Replace("Maximum Pool Size=100;", "", StringComparison.Ordinal);
    var replicas = new List<ServiceProcess>();
    try
    {
        for (var i = 0; i < 2; i++)
        {
            replicas.Add(await ServiceProcess.StartAsync(settings.ServiceDll, connectionString, kek, Path.Combine(workDirectory, $"{database}-{i}")));
        }

        report.Herd(await Herd.RunAsync(postgres, database, replicas, settings, sticky));
    }
    finally
    {
        foreach (var replica in replicas)
        {
            await replica.DisposeAsync();
        }
    }
}

Directory.Delete(workDirectory, recursive: true);
var markdown = report.ToMarkdown();
Console.WriteLine();
Console.WriteLine(markdown);
if (settings.Output is not null)
{
    // Notes written by people about a run ("Reading these figures") stay below the figures they explain.
    const string NotesHeading = "## Reading these figures";
    var previous = File.Exists(settings.Output) ? await File.ReadAllTextAsync(settings.Output) : "";
    var notes = previous.IndexOf(NotesHeading, StringComparison.Ordinal);
    if (settings.Scenario != "all" && previous.Length > 0)
    {
        // One scenario: its sections replace theirs in the file (or go before the notes); the others' figures stay.
        markdown = Report.Merge(previous, markdown, NotesHeading);
    }
    else if (notes >= 0)
    {
        markdown = markdown.TrimEnd() + "\n\n" + previous[notes..];
    }

    await File.WriteAllTextAsync(settings.Output, markdown);
    Console.WriteLine($"Written to {settings.Output}");
}

namespace Orchestrator.Benchmarks
{
    public sealed record Settings(string ServiceDll, int Agents, int Seconds, int Warmup, int Workers, int Tasks, string Scenario, string? Output,
        int Waits = 1000, int Followers = 250, double Churn = 4, int StreamCount = 10_000, string ServiceGc = "default")
    {
        public static Settings Parse(string[] args)
        {
            string Value(string name, string fallback)
            {
                var i = Array.IndexOf(args, name);
                return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
            }

            return new Settings(
                // The service runs from a temporary directory, so its path must not be relative.
                Path.GetFullPath(Value("--service", "bench/out/service/Orchestrator.dll")),
                int.Parse(Value("--agents", "1000"), CultureInfo.InvariantCulture),
                int.Parse(Value("--seconds", "15"), CultureInfo.InvariantCulture),
                int.Parse(Value("--warmup", "3"), CultureInfo.InvariantCulture),
                int.Parse(Value("--workers", "64"), CultureInfo.InvariantCulture),
                int.Parse(Value("--tasks", "1000"), CultureInfo.InvariantCulture),
                Value("--scenario", "all"),
                Value("--out", "docs/benchmarks.md") is "-" ? null : Value("--out", "docs/benchmarks.md"),
                int.Parse(Value("--waiters", "1000"), CultureInfo.InvariantCulture),
                int.Parse(Value("--followers", "250"), CultureInfo.InvariantCulture),
                double.Parse(Value("--churn", "4"), CultureInfo.InvariantCulture),
                int.Parse(Value("--streams", "10000"), CultureInfo.InvariantCulture),
                Value("--service-gc", "default") is var gc && gc is "default" or "server" or "workstation"
                    ? gc : throw new ArgumentException("--service-gc is default, server or workstation"));
        }

        /// <summary>Pending tasks for the waiters: those watched at once (a tenth of the clients: several wait for each,
        /// as several jobs of a pipeline may) plus what the churn cancels in both runs.</summary>
        public int WaitPool => Math.Max(1, (Waits + Followers) / 10) + (int)Math.Ceiling(Churn * 2 * (Seconds + Warmup + 10)) + 10;

        public override string ToString() =>
            $"{Agents} agents, {Workers} concurrent requests, {Seconds} s per run after {Warmup} s warm-up, {Tasks} tasks for stream latency" +
            (Scenario is "all" or "waiters" ? $", {Waits} waits + {Followers} event streams with {Churn} cancellations/s" : "") +
            (ServiceGc == "default" ? "" : $", the service on {ServiceGc} GC");
    }

    public static class Fleet
    {
        public sealed record Agent(Guid Id, X509Certificate2 Certificate, string Token, HttpClient Client);

        /// <summary>A routine heartbeat: healthy, with resource usage and capabilities, nothing running.</summary>
        private static readonly byte[] HeartbeatBody = JsonSerializer.SerializeToUtf8Bytes(new
        {
            status = "healthy",
            resourceUsage = new { cpu = 12.5, memory = 40.2, disk = 61.0 },
            capabilities = new[] { "docker", "compose" },
            runningTasks = 0,
        });

        public static Task<HttpResponseMessage> HeartbeatAsync(Agent agent) => agent.Client.PostAsync($"/api/v1/agents/{agent.Id}/heartbeat",
            new ByteArrayContent(HeartbeatBody) { Headers = { ContentType = new("application/json") } });

        public static async Task<List<Agent>> RegisterAsync(Uri address, int count)
        {
            using var admin = Agents.NewClient(address, null, null, ServiceProcess.AdminKey);
            // A token per 100 agents (a token has at most 10,000 uses; the many-streams scenario registers more).
            const int PerToken = 100;
            var tokens = new List<string>();
            for (var made = 0; made < count; made += PerToken)
            {
                var tokenAnswer = await admin.PostAsJsonAsync("/api/v1/registration-tokens", new { maxUses = PerToken, description = "benchmark" });
                tokenAnswer.EnsureSuccessStatusCode();
                tokens.Add((await tokenAnswer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!);
            }

            var agents = new ConcurrentBag<Agent>();
            using var anonymous = Agents.NewClient(address, null, null);
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/agents/register");
                request.Headers.Add("X-Agent-Token", tokens[i / PerToken]);
                request.Content = JsonContent.Create(new
                {
                    name = $"bench-{i:D5}-{Guid.NewGuid():N}"[..24],
                    version = "1.0.0",
                    capabilities = new[] { "docker", "compose" },
                    labels = new Dictionary<string, string> { ["bench"] = "true" },
                });
                using var answer = await anonymous.SendAsync(request, ct);
                if (!answer.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"registration failed: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync(ct)}");
                }

                var body = await answer.Content.ReadFromJsonAsync<JsonElement>(ct);
                var certificate = body.GetProperty("certificate");
                using var pem = X509Certificate2.CreateFromPem(certificate.GetProperty("cert").GetString(), certificate.GetProperty("key").GetString());
                var withKey = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
                var bearer = body.GetProperty("token").GetString()!;
                agents.Add(new Agent(body.GetProperty("agentId").GetGuid(), withKey, bearer, Agents.NewClient(address, withKey, bearer)));
            });
            return [.. agents];
        }
    }

    public static class Load
    {
        public sealed class Result
        {
            public long Requests { get; private set; }
            public long Errors { get; private set; }
            public double Seconds { get; private set; }
            public List<double> LatenciesMs { get; } = [];

            public double PerSecond => Requests / Seconds;

            public void Add(Result other)
            {
                Requests += other.Requests;
                Errors += other.Errors;
                Seconds += other.Seconds;
                LatenciesMs.AddRange(other.LatenciesMs);
            }

            public void Record(long requests, long errors, double seconds, IEnumerable<double> latencies)
            {
                Requests = requests;
                Errors = errors;
                Seconds = seconds;
                LatenciesMs.AddRange(latencies);
            }

            public double Percentile(double p) => Stats.Percentile(LatenciesMs, p);
        }

        /// <summary>Closed loop: W workers each send the next agent's request as soon as the last one answered. Every
        /// agent uses its own connection and certificate. <paramref name="measuring"/> hears when the measurement starts
        /// (true) and ends (false).</summary>
        public static async Task<Result> RunAsync(string name, List<Fleet.Agent> agents, Func<Fleet.Agent, Task<HttpResponseMessage>> send, Settings settings,
            Action<bool>? measuring = null)
        {
            var next = -1;
            var counting = false;
            var stop = false;
            long requests = 0, errors = 0;
            var latencies = new ConcurrentBag<List<double>>();

            async Task Worker()
            {
                var mine = new List<double>();
                latencies.Add(mine);
                while (!Volatile.Read(ref stop))
                {
                    var agent = agents[(int)((uint)Interlocked.Increment(ref next) % (uint)agents.Count)];
                    var started = Stopwatch.GetTimestamp();
                    using var response = await send(agent);
                    await response.Content.ReadAsByteArrayAsync();
                    var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    if (!Volatile.Read(ref counting))
                    {
                        continue;
                    }

                    if (response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref requests);
                        mine.Add(elapsed);
                    }
                    else
                    {
                        Interlocked.Increment(ref errors);
                        if (errors < 3)
                        {
                            Console.Error.WriteLine($"  {name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                        }
                    }
                }
            }

            var workers = Enumerable.Range(0, settings.Workers).Select(_ => Task.Run(Worker)).ToArray();
            await Task.Delay(TimeSpan.FromSeconds(settings.Warmup));
            measuring?.Invoke(true);
            var clock = Stopwatch.StartNew();
            Volatile.Write(ref counting, true);
            await Task.Delay(TimeSpan.FromSeconds(settings.Seconds));
            Volatile.Write(ref counting, false);
            var seconds = clock.Elapsed.TotalSeconds;
            measuring?.Invoke(false);
            Volatile.Write(ref stop, true);
            await Task.WhenAll(workers);

            var result = new Result();
            result.Record(requests, errors, seconds, latencies.SelectMany(l => l));
            Console.WriteLine($"  {name}: {result.PerSecond:F0}/s, p50 {result.Percentile(50):F2} ms, p99 {result.Percentile(99):F2} ms, {errors} errors");
            return result;
        }
    }

    public static class Streams
    {
        public sealed record Result(int Agents, int Replicas, int Tasks, int Received, List<double> LatenciesMs, double MemoryBeforeMiB, double MemoryWithStreamsMiB);

        /// <summary>Every agent holds a task stream (spread over the replicas); tasks are created one after another
        /// through the replicas in turn, and each is timed from the creating POST's answer to its task_assigned.</summary>
        public static async Task<Result> RunAsync(List<ServiceProcess> services, Settings settings)
        {
            var agents = await Fleet.RegisterAsync(services[0].Address, settings.Agents);
            var memoryBefore = services.Sum(s => Processes.ResidentMiB(s.Pid));
            var received = new ConcurrentDictionary<Guid, long>();
            using var stopping = new CancellationTokenSource();
            var sockets = new List<ClientWebSocket>();
            var readers = new List<Task>();
            for (var i = 0; i < agents.Count; i++)
            {
                var agent = agents[i];
                var service = services[i % services.Count];
                var socket = new ClientWebSocket();
                socket.Options.ClientCertificates = [agent.Certificate];
                socket.Options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
                socket.Options.SetRequestHeader("Authorization", $"Bearer {agent.Token}");
                var uri = new Uri($"wss://{service.Address.Authority}/api/v1/agents/{agent.Id}/task-stream");
                await socket.ConnectAsync(uri, stopping.Token);
                sockets.Add(socket);
                readers.Add(Task.Run(() => ReadAsync(socket, (id, at) => received.TryAdd(id, at), stopping.Token)));
            }

            await Task.Delay(TimeSpan.FromSeconds(2));
            var memoryWithStreams = services.Sum(s => Processes.ResidentMiB(s.Pid));
            Console.WriteLine($"  {agents.Count} streams open on {services.Count} replica(s): {memoryWithStreams:F0} MiB resident (was {memoryBefore:F0} MiB)");

            var operators = services.Select(s => Agents.NewClient(s.Address, null, null, ServiceProcess.AdminKey)).ToList();
            var answered = new ConcurrentDictionary<Guid, long>();
            var nextTask = -1;
            await Parallel.ForEachAsync(Enumerable.Range(0, 4), async (_, ct) =>
            {
                int n;
                while ((n = Interlocked.Increment(ref nextTask)) < settings.Tasks)
                {
                    var agent = agents[n % agents.Count];
                    var response = await operators[n % operators.Count].PostAsJsonAsync("/api/v1/tasks",
                        new { taskType = "bench.noop", agentId = agent.Id, timeout = 3600, payload = new { n } }, ct);
                    var stamp = Stopwatch.GetTimestamp();
                    if (!response.IsSuccessStatusCode)
                    {
                        Console.Error.WriteLine($"  task create: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
                        continue;
                    }

                    var id = (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("taskId").GetGuid();
                    answered[id] = stamp;
                    await Task.Delay(5, ct);
                }
            });

            await Task.Delay(TimeSpan.FromSeconds(3));
            await stopping.CancelAsync();
            foreach (var socket in sockets)
            {
                socket.Abort();
                socket.Dispose();
            }

            await Task.WhenAll(readers.Select(r => r.ContinueWith(_ => { }, TaskScheduler.Default)));
            foreach (var client in operators.Concat(agents.Select(a => a.Client)))
            {
                client.Dispose();
            }

            var latencies = answered
                .Where(a => received.ContainsKey(a.Key))
                .Select(a => Math.Max(0, Stopwatch.GetElapsedTime(a.Value, received[a.Key]).TotalMilliseconds))
                .ToList();
            var result = new Result(agents.Count, services.Count, answered.Count, latencies.Count, latencies, memoryBefore, memoryWithStreams);
            Console.WriteLine($"  stream push, {services.Count} replica(s): {latencies.Count}/{answered.Count} received, p50 {Stats.Percentile(latencies, 50):F2} ms, p99 {Stats.Percentile(latencies, 99):F2} ms");
            return result;
        }

        /// <summary>Reads a task stream until it closes, calling <paramref name="assigned"/> with each pushed task's id and
        /// when it arrived (a <see cref="Stopwatch"/> timestamp).</summary>
        public static async Task ReadAsync(ClientWebSocket socket, Action<Guid, long> assigned, CancellationToken stopping)
        {
            // Pushed messages are small; with thousands of streams open a large buffer each is the generator's memory.
            var buffer = new byte[8 * 1024];
            while (!stopping.IsCancellationRequested && socket.State == WebSocketState.Open)
            {
                var message = new MemoryStream();
                WebSocketReceiveResult part;
                do
                {
                    part = await socket.ReceiveAsync(buffer, stopping);
                    message.Write(buffer, 0, part.Count);
                }
                while (!part.EndOfMessage);

                if (part.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }

                var stamp = Stopwatch.GetTimestamp();
                using var json = JsonDocument.Parse(message.ToArray());
                if (json.RootElement.GetProperty("type").GetString() == "task_assigned")
                {
                    assigned(json.RootElement.GetProperty("task").GetProperty("taskId").GetGuid(), stamp);
                }
            }
        }
    }

    public static class Stats
    {
        public static double Percentile(List<double> values, double p)
        {
            if (values.Count == 0)
            {
                return double.NaN;
            }

            var sorted = values.Order().ToList();
            var rank = (int)Math.Ceiling(p / 100 * sorted.Count) - 1;
            return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
        }
    }

    public sealed class Report(Settings settings)
    {
        private readonly StringBuilder _heartbeat = new();
        private readonly StringBuilder _stream = new();
        private readonly StringBuilder _waiters = new();
        private readonly StringBuilder _herd = new();
        private readonly StringBuilder _startup = new();
        private readonly StringBuilder _metrics = new();
        private readonly StringBuilder _deleted = new();
        private readonly StringBuilder _register = new();
        private readonly StringBuilder _manyStreams = new();
        private readonly StringBuilder _cpu = new();

        public void ManyStreams(ManyStreams.Result r)
        {
            var perStream = (r.MemoryWithStreamsMiB - r.MemoryBeforeMiB) * 1024 / Math.Max(1, r.Streams);
            var ratio = r.WithStreams.PerSecond / r.Alone.PerSecond;
            var p99 = Stats.Percentile(r.PushMs, 99);
            var refused = r.CreateFailures.Count == 0 ? "none" : string.Join(", ", r.CreateFailures.Select(f => $"{f.Key} ×{f.Value}"));
            _manyStreams.AppendLine(CultureInfo.InvariantCulture, $"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {settings}. {MachineLoad()}");
            _manyStreams.AppendLine();
            _manyStreams.AppendLine("| | |");
            _manyStreams.AppendLine("|---|---:|");
            _manyStreams.AppendLine(CultureInfo.InvariantCulture, $"| Streams open on the replica | {r.Streams:N0} ({r.NotOpened} not opened) |");
            _manyStreams.AppendLine(CultureInfo.InvariantCulture,
                $"| Service resident memory: before the streams → with them, after the heartbeat run | {r.MemoryBeforeMiB:F0} MiB → {r.MemoryWithStreamsMiB:F0} MiB ({perStream:F0} KiB a stream) |");
            _manyStreams.AppendLine(CultureInfo.InvariantCulture,
                $"| Peak resident memory, from the first stream opened to the end of the run (aim: under 1 GiB) | {r.MemoryPeakMiB:F0} MiB |");
            _manyStreams.AppendLine(CultureInfo.InvariantCulture,
                $"| Tasks pushed during the heartbeat load, received (creations refused: {refused}) | {r.PushMs.Count} of {r.Tasks} |");
            _manyStreams.AppendLine(CultureInfo.InvariantCulture,
                $"| Push latency p50 / p99 | {Stats.Percentile(r.PushMs, 50):F1} ms / {p99:F1} ms (aim: p99 under 50 ms) |");
            _manyStreams.AppendLine(CultureInfo.InvariantCulture,
                $"| Heartbeats, no streams open | {r.Alone.PerSecond:F0}/s, p99 {r.Alone.Percentile(99):F1} ms |");
            _manyStreams.AppendLine(CultureInfo.InvariantCulture,
                $"| Heartbeats, with the streams open and tasks pushed | {r.WithStreams.PerSecond:F0}/s ({ratio:P0}), p99 {r.WithStreams.Percentile(99):F1} ms |");
            _manyStreams.AppendLine();
            _manyStreams.AppendLine(CultureInfo.InvariantCulture,
                $"**Peak memory {(r.MemoryPeakMiB < 1024 ? "under" : "OVER")} 1 GiB; push p99 {(p99 < 50 ? "under" : "OVER")} 50 ms; heartbeats with the streams at {ratio:P0} of without.**");
        }

        public void Registrations(List<Registrations.Result> results)
        {
            _register.AppendLine(CultureInfo.InvariantCulture, $"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {settings}. {MachineLoad()}");
            _register.AppendLine();
            _register.AppendLine("| Run | Tokens | Registrations | Per second | p50 ms | p99 ms | Errors |");
            _register.AppendLine("|---|---|---:|---:|---:|---:|---:|");
            for (var i = 0; i < results.Count; i++)
            {
                var r = results[i];
                _register.AppendLine(CultureInfo.InvariantCulture,
                    $"| {i + 1} | {r.Tokens} | {r.Registered} | {r.PerSecond:F0} | {Stats.Percentile(r.LatenciesMs, 50):F1} | {Stats.Percentile(r.LatenciesMs, 99):F1} | {r.Errors} |");
            }

            var medians = results.GroupBy(r => r.Tokens)
                .Select(g => (Tokens: g.Key, PerSecond: Stats.Percentile([.. g.Select(r => r.PerSecond)], 50)))
                .ToList();
            var lower = medians.Min(m => m.PerSecond);
            _register.AppendLine();
            _register.AppendLine(CultureInfo.InvariantCulture,
                $"**Median of each kind: {string.Join(", ", medians.Select(m => $"{m.Tokens} {m.PerSecond:F0}/s"))}** (aim: at least 300/s)" +
                $"{(lower >= 300 ? ": met." : ": NOT met.")} Slowest single run: {results.Min(r => r.PerSecond):F0}/s.");
        }

        public void DeletedAgent(List<DeletedAgent.Result> results)
        {
            _deleted.AppendLine(CultureInfo.InvariantCulture, $"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. {MachineLoad()}");
            _deleted.AppendLine();
            _deleted.AppendLine("| Store | Replicas | Runs | Credentials handed out | Of those, answered as the delete returned | Probes after the delete | Accepted | 5xx |");
            _deleted.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var r in results)
            {
                _deleted.AppendLine(CultureInfo.InvariantCulture,
                    $"| {r.Store} | {r.Replicas} | {r.Runs} | {r.HandedOut} | {r.HandedOutAfterDelete} | {r.Probes} | {r.Accepted} | {r.ServerErrors} |");
            }

            _deleted.AppendLine();
            _deleted.AppendLine(results.All(r => r.Accepted == 0 && r.ServerErrors == 0)
                ? "**No credential of a deleted agent was accepted, and nothing answered 5xx.**"
                : "**FAILED: a credential of a deleted agent was accepted, or the service answered 5xx.**");
        }

        public void Metrics(Load.Result off, Load.Result on)
        {
            var cost = 1 - (on.PerSecond / off.PerSecond);
            _metrics.AppendLine(CultureInfo.InvariantCulture, $"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {settings}. {MachineLoad()}");
            _metrics.AppendLine();
            _metrics.AppendLine("| Heartbeats | Requests/s | p50 ms | p99 ms | Errors |");
            _metrics.AppendLine("|---|---:|---:|---:|---:|");
            _metrics.AppendLine(Row("Baseline: the replica with `Orchestrator:Metrics:Enabled=false`", off));
            _metrics.AppendLine(Row("The replica with metrics on (the default)", on));
            _metrics.AppendLine();
            _metrics.AppendLine(CultureInfo.InvariantCulture,
                $"**Cost of metrics on the heartbeat path: {cost:P1} of throughput** (aim: under 5 %); p99 {on.Percentile(99) / off.Percentile(99):F2}× the baseline's.");
        }

        public void Startup(Startup.Result r)
        {
            static string Each(List<double> seconds) => string.Join(", ", seconds.Select(s => s.ToString("F2", CultureInfo.InvariantCulture)));
            var first = Stats.Percentile(r.FirstSeconds, 50);
            var later = Stats.Percentile(r.LaterSeconds, 50);
            _startup.AppendLine(CultureInfo.InvariantCulture, $"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. {MachineLoad()}");
            _startup.AppendLine();
            _startup.AppendLine("| Start | Median | Each run | Aim |");
            _startup.AppendLine("|---|---:|---|---:|");
            _startup.AppendLine(CultureInfo.InvariantCulture, $"| First, empty data directory | {first:F2} s | {Each(r.FirstSeconds)} | 3 s |");
            _startup.AppendLine(CultureInfo.InvariantCulture, $"| Later, the same data directory | {later:F2} s | {Each(r.LaterSeconds)} | 1.5 s |");
            if (r.JitFirstSeconds.Count > 0)
            {
                _startup.AppendLine(CultureInfo.InvariantCulture,
                    $"| Baseline: first, published without ReadyToRun | {Stats.Percentile(r.JitFirstSeconds, 50):F2} s | {Each(r.JitFirstSeconds)} | |");
                _startup.AppendLine(CultureInfo.InvariantCulture,
                    $"| Baseline: later, published without ReadyToRun | {Stats.Percentile(r.JitLaterSeconds, 50):F2} s | {Each(r.JitLaterSeconds)} | |");
            }

            _startup.AppendLine();
            _startup.AppendLine(first <= 3 && later <= 1.5 ? "**Both aims met.**" : "**Aims (first start 3 s, later 1.5 s): NOT met.**");
        }

        public void Herd(Herd.Result r)
        {
            var back = r.BackSeconds;
            _herd.AppendLine(CultureInfo.InvariantCulture, $"### {(r.Sticky ? "Each agent bound to its replica" : "Round-robin balancer")}");
            _herd.AppendLine();
            _herd.AppendLine(CultureInfo.InvariantCulture, $"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {r.Agents} agents. {MachineLoad()}");
            _herd.AppendLine();
            _herd.AppendLine("| | |");
            _herd.AppendLine("|---|---:|");
            _herd.AppendLine(CultureInfo.InvariantCulture, $"| Streams on the restarted replica | {r.OnRestarted} of {r.Agents} |");
            _herd.AppendLine(CultureInfo.InvariantCulture, $"| Its stop (SIGTERM) to ready again | {r.RestartSeconds:F1} s |");
            _herd.AppendLine(CultureInfo.InvariantCulture,
                $"| Its agents back on a stream after the stop: p50 / p99 / last | {Stats.Percentile(back, 50):F1} / {Stats.Percentile(back, 99):F1} / {(back.Count > 0 ? back.Max() : double.NaN):F1} s |");
            _herd.AppendLine(CultureInfo.InvariantCulture, $"| Agents not back within 60 s | {r.NotBack} |");
            _herd.AppendLine(CultureInfo.InvariantCulture, $"| Connection attempts refused (replica down) / answered 503 / other 5xx | {r.Refused} / {r.Answered503} / {r.Other5xx} |");
            _herd.AppendLine(CultureInfo.InvariantCulture, $"| Database connections of both replicas at the peak / `53300 too many clients` logged | {r.PeakConnections} / {r.Errors53300} |");
            _herd.AppendLine(CultureInfo.InvariantCulture,
                $"| Tasks created meanwhile / delivered / re-sent to the same agent / delivered to another agent | {r.Tasks} / {r.Delivered} / {r.DeliveredTwice} / {r.WrongAgent} |");
            _herd.AppendLine();
            var ok = r.NotBack == 0 && back.Count > 0 && back.Max() <= 30 && r.Other5xx == 0 && r.Errors53300 == 0 && r.Delivered == r.Tasks && r.WrongAgent == 0;
            _herd.AppendLine(ok
                ? "**Every agent back within 30 s, no 5xx but 503, no 53300, every task delivered, none to another agent: met.**"
                : "**Aim (every agent back within 30 s, no 5xx but 503, no 53300, every task delivered, none to another agent): NOT met.**");
        }

        public void Heartbeat(Load.Result bare, Load.Result identity, Load.Result heartbeats)
        {
            // A scenario run alone replaces only its own section: say when and how this one was measured.
            _heartbeat.AppendLine(CultureInfo.InvariantCulture, $"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {settings}. {MachineLoad()}");
            _heartbeat.AppendLine();
            _heartbeat.AppendLine("| Endpoint | Requests/s | p50 ms | p99 ms | Errors | Throughput / bare |");
            _heartbeat.AppendLine("|---|---:|---:|---:|---:|---:|");
            _heartbeat.AppendLine(CultureInfo.InvariantCulture, $"{Row("Bare: `GET /health/live` over the same connections (the limit)", bare)} 100 % |");
            _heartbeat.AppendLine(CultureInfo.InvariantCulture,
                $"{Row("`GET /api/v1/agents/{id}/identity` (authenticated no-op)", identity)} {identity.PerSecond / bare.PerSecond:P0} |");
            _heartbeat.AppendLine(CultureInfo.InvariantCulture,
                $"{Row("`POST /api/v1/agents/{id}/heartbeat`", heartbeats)} {heartbeats.PerSecond / bare.PerSecond:P0} |");
            _heartbeat.AppendLine();
            _heartbeat.AppendLine(CultureInfo.InvariantCulture,
                $"**Authenticated no-op / bare: {identity.PerSecond / bare.PerSecond:P0}** (aim: at least 90 %). " +
                $"**Heartbeat / bare: {heartbeats.PerSecond / bare.PerSecond:P0}** (aim: at least 75 %), " +
                $"heartbeat p99 {heartbeats.Percentile(99) / bare.Percentile(99):F1}× the bare p99 (aim: at most 2×).");
        }

        public void CpuProfiles(List<CpuProfile.Result> profiles)
        {
            _cpu.AppendLine(CultureInfo.InvariantCulture, $"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {settings}. {MachineLoad()}");
            _cpu.AppendLine();
            if (profiles.FirstOrDefault(p => p.Unavailable is not null) is { } failed)
            {
                _cpu.AppendLine(CultureInfo.InvariantCulture, $"**Not sampled:** {failed.Unavailable}");
                return;
            }

            _cpu.AppendLine("| Part (the first frame from the leaf up that names one takes the sample) | " +
                string.Join(" | ", profiles.Select(p => $"`{p.Load}`")) + " |");
            _cpu.AppendLine("|---|" + string.Concat(profiles.Select(_ => "---:|")));
            foreach (var part in CpuProfile.PartNames)
            {
                _cpu.AppendLine($"| {part} | " + string.Join(" | ", profiles.Select(p => p.Shares[part].ToString("P1", CultureInfo.InvariantCulture))) + " |");
            }

            _cpu.AppendLine($"| **Samples of the service on CPU** | " + string.Join(" | ", profiles.Select(p => p.Samples.ToString("N0", CultureInfo.InvariantCulture))) + " |");
            _cpu.AppendLine($"| **Requests/s while sampled** | " + string.Join(" | ", profiles.Select(p => p.RequestsPerSecond.ToString("F0", CultureInfo.InvariantCulture))) + " |");
            _cpu.AppendLine($"| **Service CPU a request (user + system)** | " + string.Join(" | ", profiles.Select(p => $"{p.CpuMsPerRequest * 1000:F0} µs")) + " |");
            if (profiles.Count == 2)
            {
                var (bare, beat) = (profiles[0], profiles[1]);
                _cpu.AppendLine();
                _cpu.AppendLine(CultureInfo.InvariantCulture,
                    $"**A heartbeat costs {beat.CpuMsPerRequest * 1000:F0} µs of service CPU, the bare request {bare.CpuMsPerRequest * 1000:F0} µs**: " +
                    $"the heartbeat's own parts (authentication, the heartbeat itself, JSON, metrics, logging) take " +
                    $"{CpuProfile.HeartbeatShare(beat):P0} of its samples, against {CpuProfile.HeartbeatShare(bare):P0} of the bare request's.");
            }
        }

        /// <summary>The load average as the runs end (the 1-minute figure covers them): ratios measured on a machine
        /// busy with something else are not comparable, and this says whether it was.</summary>
        private static string MachineLoad()
        {
            var fields = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ') : [];
            return fields.Length < 3
                ? "Machine load: not available on this system."
                : $"Machine load as the runs ended: {fields[0]} (1-minute average), {fields[1]} (5-minute) on {Environment.ProcessorCount} cores.";
        }

        public void Waiters(Load.Result alone, Load.Result withWaiters, long held, long answered, long events, long cancelled, long errors)
        {
            var ratio = withWaiters.PerSecond / alone.PerSecond;
            _waiters.AppendLine(MachineLoad());
            _waiters.AppendLine();
            _waiters.AppendLine("| Heartbeats | Requests/s | p50 ms | p99 ms | Errors |");
            _waiters.AppendLine("|---|---:|---:|---:|---:|");
            _waiters.AppendLine(Row("Baseline: nobody waiting", alone));
            _waiters.AppendLine(Row($"{settings.Waits} `?wait=60` + {settings.Followers} `/events` clients open", withWaiters));
            _waiters.AppendLine();
            _waiters.AppendLine(CultureInfo.InvariantCulture,
                $"Held by the service when each measurement began (`orchestrator_task_watches_open`): at least {held}. During the two " +
                $"runs with waiters {cancelled} watched tasks were cancelled, {answered} waits were answered and asked again, and the " +
                $"streams delivered {events} events; {errors} waiter errors.");
            _waiters.AppendLine();
            _waiters.AppendLine(CultureInfo.InvariantCulture, $"**Heartbeat throughput with waiting clients / without: {ratio:P0}** (aim: at least 90%).");
        }

        public void Stream(int replicas, Streams.Result result)
        {
            if (_stream.Length == 0)
            {
                _stream.AppendLine("| Replicas | Streams | Tasks received | p50 ms | p99 ms | Service memory before streams | with streams |");
                _stream.AppendLine("|---:|---:|---:|---:|---:|---:|---:|");
            }

            _stream.AppendLine(CultureInfo.InvariantCulture,
                $"| {replicas} | {result.Agents} | {result.Received}/{result.Tasks} | {Stats.Percentile(result.LatenciesMs, 50):F2} | {Stats.Percentile(result.LatenciesMs, 99):F2} | {result.MemoryBeforeMiB:F0} MiB | {result.MemoryWithStreamsMiB:F0} MiB |");
        }

        private static string Row(string name, Load.Result r) => string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {r.PerSecond:F0} | {r.Percentile(50):F2} | {r.Percentile(99):F2} | {r.Errors} |");

        /// <summary>The previous file with each <c>## </c> section of <paramref name="fresh"/> in place of its namesake
        /// (or, when new, before the notes).</summary>
        public static string Merge(string previous, string fresh, string notesHeading)
        {
            foreach (var section in Sections(fresh))
            {
                var heading = section[..section.IndexOf('\n', StringComparison.Ordinal)];
                var at = previous.IndexOf(heading + "\n", StringComparison.Ordinal);
                if (at >= 0)
                {
                    var end = previous.IndexOf("\n## ", at + heading.Length, StringComparison.Ordinal);
                    previous = previous[..at] + section + (end < 0 ? "" : previous[(end + 1)..]);
                }
                else
                {
                    var notes = previous.IndexOf(notesHeading, StringComparison.Ordinal);
                    previous = notes < 0 ? previous.TrimEnd() + "\n\n" + section : previous[..notes] + section + previous[notes..];
                }
            }

            return previous;
        }

        private static IEnumerable<string> Sections(string markdown)
        {
            var starts = new List<int>();
            for (var at = markdown.IndexOf("\n## ", StringComparison.Ordinal); at >= 0; at = markdown.IndexOf("\n## ", at + 1, StringComparison.Ordinal))
            {
                starts.Add(at + 1);
            }

            for (var i = 0; i < starts.Count; i++)
            {
                var section = i + 1 < starts.Count ? markdown[starts[i]..starts[i + 1]] : markdown[starts[i]..];
                yield return section.TrimEnd() + "\n\n";
            }
        }

        public string ToMarkdown()
        {
            var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "unknown";
            var text = new StringBuilder();
            text.AppendLine("# Benchmarks");
            text.AppendLine();
            text.AppendLine("Produced by `bash bench/run.sh` (see `bench/README.md`); every figure below comes from one run, and each ratio compares");
            text.AppendLine("two measurements taken in that same run on the same machine.");
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"- Date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
            text.AppendLine(CultureInfo.InvariantCulture, $"- Machine: {Environment.ProcessorCount} cores ({cpu}), {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024 * 1024.0):F0} GiB; .NET {Environment.Version}; PostgreSQL with fsync on, on the same machine");
            text.AppendLine(CultureInfo.InvariantCulture, $"- Settings: {settings}");
            text.AppendLine("- The load generator runs on the same cores as the service and the database, so absolute numbers are a floor; the ratios are the point.");
            text.AppendLine();
            if (_heartbeat.Length > 0)
            {
                text.AppendLine("## Heartbeats over mutual TLS (PostgreSQL, one replica)");
                text.AppendLine();
                text.AppendLine("Each agent has its own certificate and connection. The three endpoints' runs alternate (twice each)");
                text.AppendLine("and their figures are summed.");
                text.AppendLine();
                text.Append(_heartbeat);
                text.AppendLine();
            }

            if (_cpu.Length > 0)
            {
                text.AppendLine("## Where a heartbeat's CPU goes (PostgreSQL, one replica)");
                text.AppendLine();
                text.AppendLine("After the runs above, the bare endpoint and then the heartbeat run once more under the same load while");
                text.AppendLine("`dotnet-trace collect-linux --profile cpu-sampling` samples the service on CPU (perf_events: kernel, native and");
                text.AppendLine("managed frames in one stack). Each sample goes to the first frame, from the leaf up, that belongs to a named part;");
                text.AppendLine("OpenSSL's frames belong to their managed caller, so encryption counts as TLS and a certificate's hash as");
                text.AppendLine("authentication, and an allocation counts as runtime. The service's CPU time per request comes from /proc over");
                text.AppendLine("the measured seconds.");
                text.AppendLine();
                text.Append(_cpu);
                text.AppendLine();
            }

            if (_waiters.Length > 0)
            {
                text.AppendLine("## Heartbeats while clients wait for tasks (PostgreSQL, one replica)");
                text.AppendLine();
                text.AppendLine(CultureInfo.InvariantCulture, $"Run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC ({settings}). CI pipelines waiting with");
                text.AppendLine("`orchestrator tasks create --wait --follow`: long-polls and event streams on pending tasks of an agent outside the");
                text.AppendLine("fleet, several clients per task, and a watched task cancelled now and then so waits are answered and reopened during the");
                text.AppendLine("measurement. Heartbeats without and with them alternate (twice each); their figures are summed.");
                text.AppendLine();
                text.Append(_waiters);
                text.AppendLine();
            }

            if (_metrics.Length > 0)
            {
                text.AppendLine("## What metrics cost on the heartbeat path (PostgreSQL)");
                text.AppendLine();
                text.AppendLine("Two replicas of the service on one database, one with metrics off (nothing listens to the meters, no `/metrics`).");
                text.AppendLine("The same agents, each over its own mTLS connection to each replica, heartbeat through one and then the other; the");
                text.AppendLine("runs alternate (twice each, after one unmeasured run through each) and their figures are summed.");
                text.AppendLine();
                text.Append(_metrics);
                text.AppendLine();
            }

            if (_startup.Length > 0)
            {
                text.AppendLine("## Start-up (SQLite, the published service)");
                text.AppendLine();
                text.AppendLine("From the process start (`dotnet Orchestrator.dll`, after the build) to the first 200 of `/health/ready`, polled every");
                text.AppendLine("10 ms. A first start creates the database, the key-encryption certificate, the CA, the signing key and the admin key;");
                text.AppendLine("a later start on the same data directory finds them. The published service is compiled ahead of time (ReadyToRun, as");
                text.AppendLine("the Dockerfile publishes it); the baseline rows, measured in the same run in alternation, are the same service without.");
                text.AppendLine();
                text.Append(_startup);
                text.AppendLine();
            }

            if (_herd.Length > 0)
            {
                text.AppendLine("## Reconnecting herd (PostgreSQL, two replicas, one restarted)");
                text.AppendLine();
                text.AppendLine("Every agent holds a task stream, half on each replica, and reconnects as the reference agent does (full jitter, 1 s");
                text.AppendLine("doubling to 10 s): behind a round-robin balancer without health checks (each attempt goes to the next replica), and");
                text.AppendLine("each bound to its own replica (the whole half of the fleet comes back to the restarted replica as it starts).");
                text.AppendLine("One replica is stopped with SIGTERM and started again while a task is created every 100 ms through the other. Both");
                text.AppendLine("replicas run with the service's own pool limit (30 connections each). Tasks are never started here, so a new stream");
                text.AppendLine("is re-sent its agent's unstarted tasks: \"re-sent to the same agent\" counts those (agents de-duplicate by id).");
                text.AppendLine();
                text.Append(_herd);
                text.AppendLine();
            }

            if (_manyStreams.Length > 0)
            {
                text.AppendLine("## Many task streams on one replica, with other agents' heartbeats (PostgreSQL)");
                text.AppendLine();
                text.AppendLine("N agents (`--streams`) each hold a task stream over their own mTLS connection to one replica, while other agents");
                text.AppendLine("(`--agents`) heartbeat as in the heartbeat scenario and a task is created for a stream-holding agent every 10 ms; the");
                text.AppendLine("same heartbeat load first runs with no stream open. Push latency runs from the `POST /api/v1/tasks` answer to");
                text.AppendLine("`task_assigned` arriving; the streams and the task creation run in a process of their own, apart from the heartbeat");
                text.AppendLine("load generator, as agents do.");
                text.AppendLine();
                text.Append(_manyStreams);
                text.AppendLine();
            }

            if (_register.Length > 0)
            {
                text.AppendLine("## Registration with a CSR (PostgreSQL, one replica)");
                text.AppendLine();
                text.AppendLine("New agents register over their own TLS connections (W at once, `--workers`), each with a CSR for its own P-256 key, so");
                text.AppendLine("every registration is a certificate issued and signed, a JWT signed, the token's use counted and the agent inserted,");
                text.AppendLine("committed with fsync. Keys and CSRs are made before the clock starts. The per-address rate limit is raised, as the");
                text.AppendLine("aim says. Runs alternate, three of each: all agents with one multi-use token (a fleet's bootstrap token), and each with its own.");
                text.AppendLine();
                text.Append(_register);
                text.AppendLine();
            }

            if (_deleted.Length > 0)
            {
                text.AppendLine("## Credentials of a deleted agent (attack run, SQLite and two PostgreSQL replicas)");
                text.AppendLine();
                text.AppendLine("Not a speed figure. Six threads renew one agent's credentials in a loop, spread over the replicas (four with");
                text.AppendLine("`POST …/certificate/renew`, each renewing with what it was last handed; two with heartbeats carrying a CSR for a new");
                text.AppendLine("key) while an operator deletes the agent once a dozen renewals have landed. One second after the delete answered, every");
                text.AppendLine("certificate and token handed out is tried on `GET …/identity` on every replica. Aim: none accepted, no 5xx.");
                text.AppendLine();
                text.Append(_deleted);
                text.AppendLine();
            }

            if (_stream.Length > 0)
            {
                text.AppendLine("## Task stream push latency (PostgreSQL)");
                text.AppendLine();
                text.AppendLine("Every agent holds a WebSocket task stream, spread over the replicas. Tasks are created one after another through");
                text.AppendLine("the replicas in turn; latency runs from the `POST /api/v1/tasks` answer to the agent receiving `task_assigned`.");
                text.AppendLine("With two replicas half of the pushes cross replicas through PostgreSQL LISTEN/NOTIFY. Aim: p99 under 50 ms on one replica.");
                text.AppendLine();
                text.Append(_stream);
            }

            return text.ToString();
        }
    }
}
