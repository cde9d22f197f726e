using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Cli.Tests;

/// <summary>What the command printed and how it ended.</summary>
public sealed record CliResult(int ExitCode, string Out, string Error)
{
    public JsonElement Json => JsonDocument.Parse(Out).RootElement.Clone();

    /// <summary>Asserts the command succeeded, showing its stderr when it did not.</summary>
    public CliResult Ok()
    {
        Assert.True(ExitCode == ExitCodes.Ok, $"exit {ExitCode}: {Error}");
        return this;
    }
}

/// <summary>Text a command writes, readable while it writes (the wait's display draws from a timer thread).</summary>
public sealed class LiveText
{
    private readonly StringWriter _text = new();

    public LiveText() => Writer = TextWriter.Synchronized(_text);

    public TextWriter Writer { get; }

    public override string ToString()
    {
        // The synchronized writer locks itself for every write.
        lock (Writer)
        {
            return _text.ToString();
        }
    }
}

/// <summary>One real service (Kestrel, TLS, SQLite) per test class, its pinned CA in a file, and the admin key in a
/// file; the command runs in-process through its real entry point with its own streams and environment.</summary>
public sealed class CliFixture : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("orch-cli-").FullName;

    public TestApp App { get; private set; } = null!;

    /// <summary>The service's clock, frozen at the real time (so certificates are valid for the command), moved only by
    /// tests: a wait ends because the task ended, never because a deadline passed meanwhile.</summary>
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);
    public string CaFile => Path.Combine(_directory, "ca.pem");
    public string AdminKeyFile => Path.Combine(_directory, "admin.key");

    public async Task InitializeAsync()
    {
        // Every test registers agents from this one address: lift the registration rate limit as SharedApps does.
        App = await TestApp.StartAsync(DatabaseProvider.Sqlite, Clock,
            new Dictionary<string, string?> { ["Orchestrator:RateLimits:RegistrationsPerMinute"] = "100000" });
        await File.WriteAllTextAsync(CaFile, await App.Client().GetStringAsync("/api/v1/ca"));
        await File.WriteAllTextAsync(AdminKeyFile, TestApp.AdminKey + "\n");
    }

    /// <summary>Runs <c>orchestrator ARGS --server … --ca-file … --api-key-file …</c> (the connection flags after the
    /// subcommand, as users type them).</summary>
    public Task<CliResult> RunAsync(params string[] args) => RunAsync(new Dictionary<string, string>(), args);

    /// <summary>As <see cref="RunAsync(string[])"/>, with these environment variables.</summary>
    public Task<CliResult> RunAsync(IReadOnlyDictionary<string, string> variables, params string[] args) =>
        RunWithAsync(variables, null, [.. args, "--server", App.BaseAddress.ToString(), "--ca-file", CaFile, "--api-key-file", AdminKeyFile]);

    /// <summary>Runs the command as a person at a terminal would (stdout and stderr are a terminal); its stderr can be
    /// read while it runs.</summary>
    public Task<CliResult> RunAtTerminalAsync(LiveText error, params string[] args) =>
        RunWithAsync(new Dictionary<string, string>(), null,
            [.. args, "--server", App.BaseAddress.ToString(), "--ca-file", CaFile, "--api-key-file", AdminKeyFile], terminal: true, error: error);

    /// <summary>Runs the command with exactly these arguments, environment variables and standard input.</summary>
    public static async Task<CliResult> RunWithAsync(IReadOnlyDictionary<string, string> variables, string? input, string[] args,
        CancellationToken cancellationToken = default, bool terminal = false, LiveText? error = null)
    {
        using var output = new StringWriter();
        error ??= new LiveText();
        var environment = new CliEnvironment(output, error.Writer, new StringReader(input ?? ""), OutputIsTerminal: terminal,
            name => variables.TryGetValue(name, out var value) ? value : null);
        var exitCode = await CliApp.RunAsync(args, environment, cancellationToken);
        return new CliResult(exitCode, output.ToString(), error.ToString());
    }

    public OrchestratorClient Operator() => new(new OrchestratorClientOptions { Server = App.BaseAddress, Trust = ServerTrust.FromFile(CaFile) }, TestApp.AdminKey);

    /// <summary>An agent registered through the API with its own key (CSR), acting through the typed agent client.</summary>
    public Task<AgentClient> AgentAsync(
        string[]? capabilities = null, Dictionary<string, string?>? labels = null, Dictionary<string, string?>? missingCapabilities = null) =>
        AgentOfAsync(App, CaFile, capabilities, labels, missingCapabilities);

    public static async Task<AgentClient> AgentOfAsync(TestApp app, string caFile, string[]? capabilities = null, Dictionary<string, string?>? labels = null,
        Dictionary<string, string?>? missingCapabilities = null)
    {
        var token = await (await app.AdminClient().PostAsJsonAsync("/api/v1/registration-tokens", new { })).Content.ReadFromJsonAsync<JsonElement>();
        var key = CertificateRequests.NewKey();
        var name = $"cli-{Guid.NewGuid():N}"[..20];
        var agent = new AgentClient(new OrchestratorClientOptions { Server = app.BaseAddress, Trust = ServerTrust.FromFile(caFile) });
        var registered = await agent.RegisterAsync(token.GetProperty("token").GetString()!,
            new RegisterRequest(name, "1.0.0", [.. capabilities ?? ["docker"]], labels ?? [], CertificateRequests.CreatePem(key, name),
                MissingCapabilities: missingCapabilities));
        agent.UseCredentials(new AgentCredentials(registered.AgentId, CertificateRequests.WithKey(registered.Certificate.Cert, key), registered.Token));
        return agent;
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}
