using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Serilog.Events;

namespace Orchestrator.Tests.Foundation;

public sealed class HostTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableFact]
    public async Task A_logger_is_built_once_per_category_and_still_writes_to_the_sinks()
    {
        // Serilog's factory builds a new logger on each call, and the authentication handlers ask on every request:
        // each request built a logger, and each open task stream held one.
        var app = await apps.For(DatabaseProvider.Sqlite);
        var loggers = app.Services.GetRequiredService<ILoggerFactory>();
        const string category = "Orchestrator.Certificates.AgentAuthenticationHandler";

        var logger = loggers.CreateLogger(category);
        Assert.Same(logger, loggers.CreateLogger(category));

        logger.LogWarning("a line through the cached logger {Marker}", "cached-7f3a");
        await Poll.Until(() => Task.FromResult(app.Logs.AllText.Contains("cached-7f3a", StringComparison.Ordinal)), "the line to reach the sink");
    }

    /// <summary>Database contexts are pooled. Migrations and retention sweeps raise their context's statement timeout to
    /// ten minutes; a context handed back must not lend that to the next request, whose statements the short timeout
    /// bounds (a locked table answers 503 in seconds, docs/deployment.md).</summary>
    [SkippableTheory, BothProviders]
    public async Task A_pooled_database_context_comes_back_with_the_configured_statement_timeout(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        int? configured;
        OrchestratorDbContext raised;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            raised = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
            configured = raised.Database.GetCommandTimeout();
            raised.Database.SetCommandTimeout(DatabaseConnection.MaintenanceCommandTimeout);
        }

        // The host's background passes rent contexts too, so the one raised above may come back after a few others.
        await Poll.Until(async () =>
        {
            await using var scope = app.Services.CreateAsyncScope();
            var next = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
            if (!ReferenceEquals(next, raised))
            {
                return false;
            }

            Assert.Equal(configured, next.Database.GetCommandTimeout());
            return true;
        }, "the context raised above to be handed out again");
    }

    [SkippableTheory, BothProviders]
    public async Task Health_answers_when_the_database_does(DatabaseProvider provider)
    {
        var app = await apps.For(provider);

        Assert.Equal(HttpStatusCode.OK, (await app.Client().GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Client().GetAsync("/health/ready")).StatusCode);
    }

    [SkippableTheory, BothProviders]
    public async Task The_first_start_on_a_fresh_database_logs_no_errors(DatabaseProvider provider)
    {
        using var storage = await TestStorage.CreateEmptyAsync(provider);
        await using var app = TestApp.StartOn(storage);
        await (await app.AdminClient().GetAsync("/api/v1/agents")).ShouldBe(HttpStatusCode.OK);

        Assert.Empty(app.Logs.Events.Where(e => e.Level >= LogEventLevel.Error).Select(e => e.RenderMessage()));
    }

    [SkippableFact]
    public async Task In_development_every_service_registration_is_validated_when_the_service_starts()
    {
        // Development turns on the host's checks of every registration (ValidateOnBuild) and of scoped services taken
        // from the root (ValidateScopes); other test hosts run as Production, as operators do.
        using var storage = await TestStorage.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = TestApp.StartOn(storage, settings: new Dictionary<string, string?> { [HostDefaults.EnvironmentKey] = Environments.Development });

        Assert.True(app.Services.GetRequiredService<IHostEnvironment>().IsDevelopment());
        await (await app.AdminClient().GetAsync("/api/v1/agents")).ShouldBe(HttpStatusCode.OK);
    }

    [SkippableFact]
    public async Task Swagger_ui_and_document_load_with_the_api_key_scheme()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        Assert.Equal(HttpStatusCode.OK, (await app.Client().GetAsync("/swagger/index.html")).StatusCode);
        using var noRedirects = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        }) { BaseAddress = app.BaseAddress };
        var root = await noRedirects.GetAsync("/");
        Assert.Equal(HttpStatusCode.Redirect, root.StatusCode);
        Assert.Equal("/swagger", root.Headers.Location?.OriginalString);
        var document = await (await app.Client().GetAsync("/swagger/v1/swagger.json")).ShouldBe(HttpStatusCode.OK);
        Assert.True(document.GetProperty("components").GetProperty("securitySchemes").TryGetProperty("ApiKey", out _));
        foreach (var path in document.GetProperty("paths").EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject())
            {
                Assert.True(operation.Value.TryGetProperty("summary", out _), $"{operation.Name} {path.Name} has no summary");
                Assert.True(operation.Value.TryGetProperty("tags", out _), $"{operation.Name} {path.Name} has no tags");
            }
        }
    }

    [SkippableFact]
    public async Task Swagger_ui_keeps_the_api_key_across_reloads_only_when_configured_to()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        await using var persisting = await TestApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?>
        {
            ["Orchestrator:SwaggerPersistAuthorization"] = "true",
        });

        // Swagger UI reads its settings from index.js.
        var byDefault = await app.Client().GetStringAsync("/swagger/index.js");
        var configured = await persisting.Client().GetStringAsync("/swagger/index.js");

        Assert.Contains("\"persistAuthorization\":false", byDefault);
        Assert.Contains("\"persistAuthorization\":true", configured);
    }

    [SkippableFact]
    public async Task Unknown_routes_and_wrong_methods_are_problem_details()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        await (await app.AdminClient().GetAsync("/api/v1/nothing-here")).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await app.AdminClient().PutAsync("/api/v1/audit", null)).ShouldBeProblem(HttpStatusCode.MethodNotAllowed);
    }

    [SkippableFact]
    public async Task A_body_over_the_limit_is_a_413_problem()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?>
        {
            ["Orchestrator:MaxRequestBodyBytes"] = "4096",
        });

        var body = $"{{\"name\":\"{new string('a', 10_000)}\",\"role\":\"viewer\"}}";
        await (await app.AdminClient().PostRaw("/api/v1/api-keys", body)).ShouldBeProblem(HttpStatusCode.RequestEntityTooLarge);
    }

    [SkippableTheory]
    [InlineData("Orchestrator:Agents:HeartbeatInterval", "00:00:00")]
    [InlineData("Orchestrator:Agents:MissedHeartbeats", "0")]
    [InlineData("Orchestrator:Certificates:RenewBefore", "2.00:00:00")]
    [InlineData("Orchestrator:Logging:Format", "xml")]
    [InlineData("Orchestrator:Agents:HeartbeatInterval", "soon")]
    [InlineData("Orchestrator:Tls:CipherSuites:0", "TLS_NOT_A_SUITE")]
    public async Task A_bad_setting_stops_the_service_naming_the_setting(string setting, string value)
    {
        var storage = await TestStorage.CreateAsync(DatabaseProvider.Sqlite);
        using var _ = storage;

        var error = Assert.ThrowsAny<Exception>(() => TestApp.StartOn(storage, settings: new Dictionary<string, string?> { [setting] = value }));

        // The whole error on failure: once in a while another exception stood in for the setting's.
        Assert.True(error.ToString().Contains(setting, StringComparison.Ordinal), error.ToString());
    }

    [SkippableFact]
    public async Task A_data_directory_holding_someone_elses_files_stops_the_service_naming_it()
    {
        var storage = await TestStorage.CreateAsync(DatabaseProvider.Sqlite);
        using var _ = storage;
        var foreign = Directory.CreateTempSubdirectory("orch-foreign-").FullName;
        await File.WriteAllTextAsync(Path.Combine(foreign, "notes.txt"), "someone else's");
        var settings = new Dictionary<string, string?> { ["Orchestrator:DataDirectory"] = foreign };

        var error = Assert.ThrowsAny<Exception>(() => TestApp.StartOn(storage, settings: settings));

        Assert.Contains($"The data directory {foreign} (Orchestrator:DataDirectory) holds files that are not Orchestrator's", error.ToString());
        Assert.Equal(["notes.txt"], Directory.EnumerateFileSystemEntries(foreign).Select(Path.GetFileName));
        Directory.Delete(foreign, recursive: true);
    }

    [SkippableFact]
    public async Task Without_a_configured_key_an_admin_key_is_generated_into_an_owner_only_file()
    {
        var storage = await TestStorage.CreateAsync(DatabaseProvider.Sqlite);
        using var _ = storage;
        await using var app = TestApp.StartOn(storage, settings: new Dictionary<string, string?> { ["Orchestrator:Auth:BootstrapAdminKey"] = null });

        var file = Path.Combine(storage.DataDirectory, "admin-api-key");
        var key = (await File.ReadAllTextAsync(file)).Trim();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, OperatingSystem.IsWindows() ? UnixFileMode.UserRead | UnixFileMode.UserWrite : File.GetUnixFileMode(file));
        Assert.Equal(HttpStatusCode.OK, (await app.Client(key).GetAsync("/api/v1/api-keys")).StatusCode);
        Assert.Contains(file, app.Logs.AllText);
        Assert.DoesNotContain(key, app.Logs.AllText);
    }

    [SkippableFact]
    public async Task A_short_configured_admin_key_works_and_the_service_warns_about_its_length()
    {
        using var storage = await TestStorage.CreateAsync(DatabaseProvider.Sqlite);
        await using var app = TestApp.StartOn(storage, settings: new Dictionary<string, string?> { ["Orchestrator:Auth:BootstrapAdminKey"] = "test-admin" });

        Assert.Equal(HttpStatusCode.OK, (await app.Client("test-admin").GetAsync("/api/v1/api-keys")).StatusCode);
        Assert.Contains("has 10 characters; use at least 32", app.Logs.AllText, StringComparison.Ordinal);
        Assert.DoesNotContain("test-admin", app.Logs.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public void Migrations_cover_the_model_on_both_providers()
    {
        using var sqlite = new SqliteDesignTimeFactory().CreateDbContext([]);
        using var postgres = new PostgresDesignTimeFactory().CreateDbContext([]);

        Assert.False(sqlite.Database.HasPendingModelChanges(), "SQLite has model changes without a migration: run eng/new-migration.sh");
        Assert.False(postgres.Database.HasPendingModelChanges(), "PostgreSQL has model changes without a migration: run eng/new-migration.sh");
    }

    /// <summary>The service runs on the compiled models in CompiledModels/ (a start no longer builds the model from the
    /// mappings); one that lags behind the mappings would silently drop a column or a rule, so it must be what the
    /// mappings build, to the last property, index and key. After changing a mapping: eng/compile-models.sh.</summary>
    [Fact]
    public void The_compiled_models_are_what_the_mappings_build_on_both_providers()
    {
        using var sqlite = new SqliteDesignTimeFactory().CreateDbContext([]);
        using var postgres = new PostgresDesignTimeFactory().CreateDbContext([]);

        foreach (var (db, compiledType) in new (OrchestratorDbContext, Type)[]
                 {
                     (sqlite, typeof(CompiledModels.Sqlite.SqliteOrchestratorDbContextModel)),
                     (postgres, typeof(CompiledModels.Postgres.PostgresOrchestratorDbContextModel)),
                 })
        {
            Assert.IsType(compiledType, db.Model);
            var built = db.GetService<IDesignTimeModel>().Model;
            // Entities, properties (types, nullability, lengths, converters), keys, indexes and relationships; the tables
            // and columns they map to are compared through the relational models below.
            const MetadataDebugStringOptions shape = MetadataDebugStringOptions.LongDefault & ~MetadataDebugStringOptions.IncludeAnnotations;
            // Entity types only: the compiled model is one instance per process, and raw SQL queries add ad-hoc types to it.
            static string Entities(IModel model) =>
                string.Join("\n", model.GetEntityTypes().OrderBy(e => e.Name, StringComparer.Ordinal).Select(e => e.ToDebugString(shape)));
            Assert.Equal(Entities(built), Entities(db.Model));
            Assert.Equal(built.GetRelationalModel().ToDebugString(shape), db.Model.GetRelationalModel().ToDebugString(shape));
        }
    }
}
