using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Reflection;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Hosting;
using Serilog.Core;

namespace Orchestrator.Testing;

/// <summary>The real service on real Kestrel over HTTPS (<c>https://127.0.0.1:0</c>), on its own storage.
/// <para>Starting one costs about half a second of CPU, so tests that need nothing special share one per test class
/// (<see cref="SharedApps"/>) and give each test its own agents, tokens and tasks. A test starts its own with
/// <see cref="StartAsync"/> only when it needs a fake clock, settings of its own, an empty database, or restarts and
/// replicas (<see cref="StartOn"/>).</para></summary>
public sealed class TestApp : WebApplicationFactory<Program>
{
    public const string AdminKey = "ork_test-admin-key-0123456789abcdefghijklmnopqrstuvwxyz";

    private readonly TestStorage _storage;
    private readonly bool _ownsStorage;
    private readonly Dictionary<string, string?> _settings;
    private readonly ConcurrentDictionary<string, SocketsHttpHandler> _handlers = new();
    private readonly Action<IServiceCollection>? _services;

    private TestApp(TestStorage storage, bool ownsStorage, FakeTimeProvider? time, Dictionary<string, string?> settings,
        Action<IServiceCollection>? services)
    {
        _storage = storage;
        _ownsStorage = ownsStorage;
        Time = time;
        _settings = settings;
        _services = services;
    }

    public DatabaseProvider Provider => _storage.Provider;
    public TestStorage Storage => _storage;

    /// <summary>The service's clock when the test asked for a fake one.</summary>
    public FakeTimeProvider? Time { get; }
    public CapturedLogs Logs { get; } = new();
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Starts the service on fresh storage of the given provider. <paramref name="services"/> adds to the
    /// service's own registrations (for example an EF Core interceptor that observes its statements).</summary>
    public static async Task<TestApp> StartAsync(DatabaseProvider provider, FakeTimeProvider? time = null, IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null)
    {
        var storage = await TestStorage.CreateAsync(provider);
        // WebApplicationFactory starts synchronously; a thread of its own keeps that wait off the thread pool and off
        // xunit's few test threads, which the other tests running meanwhile need.
        return await Task.Factory.StartNew(() => Start(storage, ownsStorage: true, time, settings, services),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>Starts another instance over existing storage (a restart, or a second replica). <paramref name="services"/>
    /// adds to the service's own registrations, after them (for a test that must act at a point of the start-up).</summary>
    public static TestApp StartOn(TestStorage storage, FakeTimeProvider? time = null, IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null) =>
        Start(storage, ownsStorage: false, time, settings, services);

    private static TestApp Start(TestStorage storage, bool ownsStorage, FakeTimeProvider? time, IDictionary<string, string?>? settings,
        Action<IServiceCollection>? services = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["Orchestrator:DataDirectory"] = storage.DataDirectory,
            ["Orchestrator:Database:Provider"] = storage.Provider.ToString(),
            ["ConnectionStrings:Orchestrator"] = storage.ConnectionString,
            ["Orchestrator:Auth:BootstrapAdminKey"] = AdminKey,
            // Hundreds of hosts would bury the test output; each test reads its own host's lines from Logs.
            ["Orchestrator:Logging:Console"] = "false",
            // A test's fake clock (often months before today) is the time; ClockSkewTests turn this on.
            ["Orchestrator:Database:AlignClock"] = time is null ? "true" : "false",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        var app = new TestApp(storage, ownsStorage, time, all, services);
        app.UseKestrel();
        try
        {
            app.StartServer();
        }
        catch (ObjectDisposedException) when (app.Logs.Events.LastOrDefault(e => e.Exception is not (null or ObjectDisposedException))
                                              ?.Exception is { } failure)
        {
            // Mvc.Testing's race (as in dotnet/aspnetcore#33494): a host that fails to start is disposed by the application
            // (Program's app.Run) before the factory's wrapper reads its services, and that ObjectDisposedException stood in
            // for the failure now and then (HostTests, a bad setting). The host logged the failure itself: that is the answer.
            throw new InvalidOperationException($"The service failed to start: {failure.Message}", failure);
        }

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .First(a => a.StartsWith("https://", StringComparison.Ordinal));
        app.BaseAddress = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        return app;
    }

    /// <summary>The factory's listener for the service's entry point. The factory runs the entry point with it in an
    /// <c>AsyncLocal</c>, so everything the service starts captures it in its execution context, among them the SQLite
    /// and Npgsql pools' timers, which the process keeps for good (one pool per test database). It refers to the host and
    /// to this factory, so every stopped host stayed in memory for the rest of the run (143 of them 60 s into the server
    /// tests). <see cref="DisposeAsync"/> empties it. <c>HostLifetimeTests</c> fails when a new version of the factory
    /// keeps the host some other way.</summary>
    private static readonly FieldInfo? FactoryListenerField = typeof(WebApplicationFactory<>).Assembly
        .GetType("Microsoft.Extensions.Hosting.HostFactoryResolver+HostingListener")
        ?.GetField("_currentListener", BindingFlags.NonPublic | BindingFlags.Static);

    private object? _factoryListener;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseUrls("https://127.0.0.1:0");
        // As operators run it. Development would also validate every service registration on each host's build, a
        // third of a host's start-up CPU; HostTests starts one Development host so that validation still runs.
        builder.UseEnvironment(Environments.Production);
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureServices(services =>
        {
            services.AddSingleton<IHostedService>(new FactoryListenerCapture(this));
            services.AddSingleton<ILogEventSink>(Logs);
            if (Time is not null)
            {
                // The replica's own clock: the service's clock follows it (DatabaseClock), aligned to the database's
                // only where the test asks for that (Orchestrator:Database:AlignClock), as a fake clock is the time.
                services.AddKeyedSingleton<TimeProvider>(DatabaseClock.ReplicaKey, Time);
            }

            _services?.Invoke(services);
        });
    }

    /// <summary>An HTTPS client, optionally with an API key, a client certificate and a bearer token. Clients are
    /// cheap: they share this host's connection pool for their certificate (one per client certificate, and one
    /// without), so calling this in a poll loop reuses open TLS connections instead of a handshake per call. The
    /// client need not be disposed; headers added to it stay on it.</summary>
    public HttpClient Client(string? apiKey = null, X509Certificate2? certificate = null, string? bearer = null)
    {
        var handler = _handlers.GetOrAdd(certificate?.Thumbprint ?? "", _ => new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                // The test trusts the server it just started; agent-side trust of the CA is tested on its own.
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
                ClientCertificates = certificate is null ? null : new X509CertificateCollection { certificate },
                LocalCertificateSelectionCallback = certificate is null ? null : (_, _, _, _, _) => certificate,
            },
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        });
        var client = new HttpClient(handler, disposeHandler: false) { BaseAddress = BaseAddress };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        }

        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    public HttpClient AdminClient() => Client(AdminKey);

    private static void Release(object listener, string field, object empty) =>
        listener.GetType().GetField(field, BindingFlags.NonPublic | BindingFlags.Instance)?.SetValue(listener, empty);

    /// <summary>Takes note of the factory's listener: the hosted services start in the entry point's flow, which holds it.</summary>
    private sealed class FactoryListenerCapture(TestApp app) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            var current = FactoryListenerField?.GetValue(null);
            app._factoryListener = current?.GetType().GetProperty("Value")!.GetValue(current);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    public override async ValueTask DisposeAsync()
    {
        foreach (var handler in _handlers.Values)
        {
            handler.Dispose();
        }

        await base.DisposeAsync();
        if (_factoryListener is { } listener)
        {
            // What it refers to the host and this factory by, replaced by empty ones: the entry point's thread may still
            // report its end to it.
            Release(listener, "_hostTcs", new TaskCompletionSource<object>());
            Release(listener, "_configure", new Action<object>(_ => { }));
            Release(listener, "_entrypointCompleted", new Action<Exception?>(_ => { }));
        }

        if (_ownsStorage)
        {
            _storage.Dispose();
        }
    }
}
