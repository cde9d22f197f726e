using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;

namespace Orchestrator.Agent;

/// <summary>The flags of <c>run</c> and <c>simulate</c>, and the host they configure. Each also comes from configuration as
/// <c>OrchestratorAgent:&lt;Flag&gt;</c> (environment <c>OrchestratorAgent__Server</c>, <c>OrchestratorAgent__TokenFile</c>, ...;
/// repeatable flags as <c>OrchestratorAgent__Label__0=k=v</c> or one comma-separated value). A flag wins over a setting.</summary>
public sealed class CommandLine
{
    public Option<string> Server { get; } = new("--server") { Description = "The Orchestrator URL, e.g. https://orchestrator.example:8443 (OrchestratorAgent__Server)." };
    public Option<string> TokenFile { get; } = new("--token-file") { Description = "File holding a registration token; needed only without a usable identity." };
    public Option<string> Token { get; } = new("--token") { Description = "A registration token (prefer --token-file: a flag shows in the process list)." };
    public Option<string> StateDir { get; } = new("--state-dir") { Description = "Where the agent keeps its identity, key and unreported results (created 0700)." };
    public Option<string> CaFile { get; } = new("--ca-file") { Description = "PEM bundle of the server's CA (GET /api/v1/ca, checked out of band)." };
    public Option<string> CaFingerprint { get; } = new("--ca-fingerprint") { Description = "sha256:HEX of the server's CA certificate; pins the bundle on first contact." };
    public Option<string> Name { get; } = new("--name") { Description = "The agent's name (default: the host name)." };
    public Option<string[]> Label { get; } = new("--label") { Description = "A label key=value (repeatable).", AllowMultipleArgumentsPerToken = false };
    public Option<string[]> Capability { get; } = new("--capability") { Description = "A capability to report besides the detected ones (repeatable)." };
    public Option<int?> MaxTasks { get; } = new("--max-tasks") { Description = "Tasks run at once (default 2)." };
    public Option<string> DockerHost { get; } = new("--docker-host")
    {
        Description = $"The Docker Engine (default: DOCKER_HOST, else the current Docker context, else {AgentSettings.DefaultDockerHost}).",
    };
    public Option<bool> AllowShell { get; } = new("--allow-shell") { Description = "Run shell.run tasks (any command, with the agent's rights)." };
    public Option<string> GracePeriod { get; } = new("--grace-period") { Description = "After a cancel or timeout, time to stop gracefully before a kill (default 10s)." };
    public Option<string> ShutdownTimeout { get; } = new("--shutdown-timeout") { Description = "After SIGTERM, time for running tasks to finish (default 30s)." };
    public Option<string> LogLevel { get; } = new("--log-level") { Description = "trace, debug, information (default), warning, error." };
    public Option<int> Agents { get; } = new("--agents") { Description = "How many simulated agents (simulate).", DefaultValueFactory = _ => 10 };

    public IEnumerable<Option> RunOptions =>
        [Server, TokenFile, Token, StateDir, CaFile, CaFingerprint, Name, Label, Capability, MaxTasks, DockerHost, AllowShell, GracePeriod, ShutdownTimeout, LogLevel];

    public IEnumerable<Option> SimulateOptions => [Server, TokenFile, Token, CaFile, CaFingerprint, Name, Agents, LogLevel];

    /// <summary>The agent's Generic Host: configuration is the environment with the given flags laid over it,
    /// <see cref="AgentOptions"/> are bound from it and checked at start by the source-generated validator, and
    /// <see cref="AgentSettings"/> are made from them; logging is the single-line console at <c>--log-level</c>.</summary>
    public HostApplicationBuilder CreateHostBuilder(ParseResult parsed, IConfiguration environment, bool needsStateDir = true)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddConfiguration(environment);
        builder.Configuration.AddInMemoryCollection(FlagSettings(parsed));
        builder.Services.AddOptions<AgentOptions>()
            .Bind(builder.Configuration.GetSection(AgentOptions.Section))
            .Configure(options => options.NeedsStateDir = needsStateDir)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>();
        builder.Services.AddSingleton(services =>
            Settings(services.GetRequiredService<IOptions<AgentOptions>>().Value, services.GetRequiredService<IConfiguration>()));
        builder.Logging
            .SetMinimumLevel(AgentOptions.ParseLogLevel(builder.Configuration[$"{AgentOptions.Section}:LogLevel"]) ?? Microsoft.Extensions.Logging.LogLevel.Information)
            .AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.UseUtcTimestamp = true;
                console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            });
        return builder;
    }

    /// <summary>The settings as the host makes them (flags over the environment, checked); a problem a user must fix is an
    /// <see cref="AgentExitException"/> with the usage code, naming the flag.</summary>
    public AgentSettings Read(ParseResult parsed, IConfiguration environment, bool needsStateDir = true)
    {
        using var host = CreateHostBuilder(parsed, environment, needsStateDir).Build();
        return SettingsOf(host);
    }

    /// <summary><see cref="AgentSettings"/> from a built host, its option failures turned into one usage error.</summary>
    public static AgentSettings SettingsOf(IHost host)
    {
        try
        {
            return host.Services.GetRequiredService<AgentSettings>();
        }
        catch (OptionsValidationException ex)
        {
            throw Usage(string.Join(Environment.NewLine, ex.Failures));
        }
        catch (InvalidOperationException ex) when (ex.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal))
        {
            // A number or switch that is not one (OrchestratorAgent__MaxTasks=abc): the binder's message names the key.
            throw Usage(ex.Message);
        }
    }

    /// <summary>The flags given, as configuration keys of <see cref="AgentOptions.Section"/>. A flag of a pair
    /// (<c>--token-file | --token</c>, <c>--ca-file | --ca-fingerprint</c>) blanks the other's setting, so it wins;
    /// both flags together are a usage error rather than one silently winning.</summary>
    private Dictionary<string, string?> FlagSettings(ParseResult parsed)
    {
        var settings = new Dictionary<string, string?>();
        void Set(string key, string? value)
        {
            if (value is not null)
            {
                settings[$"{AgentOptions.Section}:{key}"] = value;
            }
        }

        void Pair(Option<string> first, string firstKey, Option<string> second, string secondKey)
        {
            var (firstFlag, secondFlag) = (parsed.GetValue(first), parsed.GetValue(second));
            if (firstFlag is not null && secondFlag is not null)
            {
                throw Usage($"Give {first.Name} or {second.Name}, not both.");
            }

            if (firstFlag is not null || secondFlag is not null)
            {
                settings[$"{AgentOptions.Section}:{firstKey}"] = firstFlag ?? "";
                settings[$"{AgentOptions.Section}:{secondKey}"] = secondFlag ?? "";
            }
        }

        void List(Option<string[]> option, string key)
        {
            if (parsed.GetValue(option) is { Length: > 0 } values)
            {
                // The flags replace the setting's list (one value or numbered children) as a whole.
                settings[$"{AgentOptions.Section}:{key}"] = null;
                for (var i = 0; i < values.Length; i++)
                {
                    settings[$"{AgentOptions.Section}:{key}:{i}"] = values[i];
                }
            }
        }

        Set("Server", parsed.GetValue(Server));
        Set("StateDir", parsed.GetValue(StateDir));
        Pair(TokenFile, "TokenFile", Token, "Token");
        Pair(CaFile, "CaFile", CaFingerprint, "CaFingerprint");
        Set("Name", parsed.GetValue(Name));
        List(Label, "Label");
        List(Capability, "Capability");
        Set("MaxTasks", parsed.GetValue(MaxTasks)?.ToString(CultureInfo.InvariantCulture));
        Set("DockerHost", parsed.GetValue(DockerHost));
        Set("AllowShell", parsed.GetValue(AllowShell) ? "true" : null);
        Set("GracePeriod", parsed.GetValue(GracePeriod));
        Set("ShutdownTimeout", parsed.GetValue(ShutdownTimeout));
        Set("LogLevel", parsed.GetValue(LogLevel));
        return settings;
    }

    /// <summary>Checked options to the settings the agent runs with: the token read from its file, labels split, the
    /// Docker Engine found as Docker's own CLI finds it.</summary>
    private static AgentSettings Settings(AgentOptions options, IConfiguration configuration)
    {
        var section = configuration.GetSection(AgentOptions.Section);
        var token = NullIfEmpty(options.Token);
        if (NullIfEmpty(options.TokenFile) is { } tokenFile)
        {
            try
            {
                token = File.ReadAllText(tokenFile).Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new AgentExitException(ExitCodes.CannotStart, $"Cannot read the token file {tokenFile}: {ex.Message}");
            }
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var label in Many(section.GetSection("Label")))
        {
            var separator = label.IndexOf('=', StringComparison.Ordinal);
            if (separator <= 0)
            {
                throw Usage($"--label must be key=value, not '{label}'.");
            }

            labels[label[..separator]] = label[(separator + 1)..];
        }

        var (dockerHost, dockerSource) = Executors.DockerEndpoint.Resolve(NullIfEmpty(options.DockerHost), configuration);
        if (!Uri.TryCreate(dockerHost, UriKind.Absolute, out var dockerUri) || dockerUri.Scheme is not ("unix" or "tcp" or "http" or "https" or "npipe"))
        {
            throw Usage($"--docker-host (here from {dockerSource}) must be unix:///path or tcp://host:port, not '{dockerHost}'.");
        }

        return new AgentSettings
        {
            Server = new Uri(options.Server!),
            StateDir = options.StateDir ?? "",
            Token = string.IsNullOrEmpty(token) ? null : token,
            CaFile = NullIfEmpty(options.CaFile),
            CaFingerprint = NullIfEmpty(options.CaFingerprint),
            Name = NullIfEmpty(options.Name) ?? Environment.MachineName.ToLowerInvariant(),
            Labels = labels,
            Capabilities = [.. Many(section.GetSection("Capability")).Distinct(StringComparer.Ordinal)],
            MaxTasks = options.MaxTasks,
            DockerHost = dockerHost,
            DockerHostSource = dockerSource,
            AllowShell = options.AllowShell,
            GracePeriod = Duration(options.GracePeriod, TimeSpan.FromSeconds(10)),
            ShutdownTimeout = Duration(options.ShutdownTimeout, TimeSpan.FromSeconds(30)),
        };
    }

    /// <summary>A list setting: one comma-separated value, or numbered children (the flags are written as children).</summary>
    private static IEnumerable<string> Many(IConfigurationSection setting)
    {
        if (setting.Value is { Length: > 0 } joined)
        {
            return joined.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }

        return setting.GetChildren().Select(c => c.Value).OfType<string>().Where(v => v.Length > 0);
    }

    private static TimeSpan Duration(string? text, TimeSpan fallback) => Durations.TryParse(text, out var value) ? value : fallback;

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    private static AgentExitException Usage(string message) => new(ExitCodes.Usage, message);
}
