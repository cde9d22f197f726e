using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Orchestrator.Agent;

/// <summary>The flags of <c>run</c> and <c>simulate</c>. Each also comes from configuration as
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
    public Option<string> GracePeriod { get; } = new("--grace-period") { Description = "After a cancel or timeout, time to stop gracefully before a kill (default 00:00:10)." };
    public Option<string> ShutdownTimeout { get; } = new("--shutdown-timeout") { Description = "After SIGTERM, time for running tasks to finish (default 00:00:30)." };
    public Option<string> LogLevel { get; } = new("--log-level") { Description = "trace, debug, information (default), warning, error." };
    public Option<int> Agents { get; } = new("--agents") { Description = "How many simulated agents (simulate).", DefaultValueFactory = _ => 10 };

    public IEnumerable<Option> RunOptions =>
        [Server, TokenFile, Token, StateDir, CaFile, CaFingerprint, Name, Label, Capability, MaxTasks, DockerHost, AllowShell, GracePeriod, ShutdownTimeout, LogLevel];

    public IEnumerable<Option> SimulateOptions => [Server, TokenFile, Token, CaFile, CaFingerprint, Name, Agents, LogLevel];

    /// <summary>Flags over settings; a problem a user must fix is an <see cref="AgentExitException"/> with the usage code.</summary>
    public AgentSettings Read(ParseResult parsed, IConfiguration configuration, bool needsStateDir = true)
    {
        var section = configuration.GetSection("OrchestratorAgent");
        string? Text(Option<string> option, string key) => parsed.GetValue(option) ?? NullIfEmpty(section[key]);

        var serverText = Text(Server, "Server") ?? throw Usage("--server is required (or OrchestratorAgent__Server).");
        if (!Uri.TryCreate(serverText, UriKind.Absolute, out var server) || server.Scheme != Uri.UriSchemeHttps)
        {
            throw Usage($"--server must be an https:// URL, not '{serverText}'.");
        }

        var stateDir = Text(StateDir, "StateDir");
        if (needsStateDir && stateDir is null)
        {
            throw Usage("--state-dir is required (or OrchestratorAgent__StateDir).");
        }

        var (tokenFile, token) = Either(parsed, section, TokenFile, "TokenFile", Token, "Token");
        if (tokenFile is not null)
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
        foreach (var label in Many(parsed.GetValue(Label), section.GetSection("Label")))
        {
            var separator = label.IndexOf('=', StringComparison.Ordinal);
            if (separator <= 0)
            {
                throw Usage($"--label must be key=value, not '{label}'.");
            }

            labels[label[..separator]] = label[(separator + 1)..];
        }

        var capabilities = Many(parsed.GetValue(Capability), section.GetSection("Capability")).Distinct(StringComparer.Ordinal).ToList();
        var maxTasks = parsed.GetValue(MaxTasks) ?? (int.TryParse(section["MaxTasks"], CultureInfo.InvariantCulture, out var m) ? m : 2);
        if (maxTasks is < 1 or > 64)
        {
            throw Usage("--max-tasks must be from 1 to 64.");
        }

        var (caFile, caFingerprint) = Either(parsed, section, CaFile, "CaFile", CaFingerprint, "CaFingerprint");
        if (caFingerprint is not null)
        {
            try
            {
                Client.ServerTrust.ParseFingerprint(caFingerprint);
            }
            catch (ArgumentException ex)
            {
                throw Usage($"--ca-fingerprint: {ex.Message}");
            }
        }

        var (dockerHost, dockerSource) = Executors.DockerEndpoint.Resolve(Text(DockerHost, "DockerHost"), configuration);
        if (!Uri.TryCreate(dockerHost, UriKind.Absolute, out var dockerUri) || dockerUri.Scheme is not ("unix" or "tcp" or "http" or "https" or "npipe"))
        {
            throw Usage($"--docker-host (here from {dockerSource}) must be unix:///path or tcp://host:port, not '{dockerHost}'.");
        }

        return new AgentSettings
        {
            Server = server,
            StateDir = stateDir ?? "",
            Token = string.IsNullOrEmpty(token) ? null : token,
            CaFile = caFile,
            CaFingerprint = caFingerprint,
            Name = Text(Name, "Name") ?? Environment.MachineName.ToLowerInvariant(),
            Labels = labels,
            Capabilities = capabilities,
            MaxTasks = maxTasks,
            DockerHost = dockerHost,
            DockerHostSource = dockerSource,
            AllowShell = parsed.GetValue(AllowShell) || (bool.TryParse(section["AllowShell"], out var shell) && shell),
            GracePeriod = Duration(Text(GracePeriod, "GracePeriod"), "--grace-period", TimeSpan.FromSeconds(10)),
            ShutdownTimeout = Duration(Text(ShutdownTimeout, "ShutdownTimeout"), "--shutdown-timeout", TimeSpan.FromSeconds(30)),
        };
    }

    public Microsoft.Extensions.Logging.LogLevel ReadLogLevel(ParseResult parsed, IConfiguration configuration)
    {
        var text = parsed.GetValue(LogLevel) ?? NullIfEmpty(configuration["OrchestratorAgent:LogLevel"]) ?? "information";
        return Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(text, ignoreCase: true, out var level) && text.Length > 2
            ? level
            : throw Usage($"--log-level must be trace, debug, information, warning or error, not '{text}'.");
    }

    /// <summary>Two flags that are alternatives (<c>--token-file | --token</c>, <c>--ca-file | --ca-fingerprint</c>):
    /// giving both is a usage error rather than one silently winning; a flag wins over both settings.</summary>
    private static (string? First, string? Second) Either(ParseResult parsed, IConfigurationSection section, Option<string> first, string firstKey,
        Option<string> second, string secondKey)
    {
        var (firstFlag, secondFlag) = (parsed.GetValue(first), parsed.GetValue(second));
        if (firstFlag is not null && secondFlag is not null)
        {
            throw Usage($"Give {first.Name} or {second.Name}, not both.");
        }

        if (firstFlag is not null || secondFlag is not null)
        {
            return (firstFlag, secondFlag);
        }

        var (firstSetting, secondSetting) = (NullIfEmpty(section[firstKey]), NullIfEmpty(section[secondKey]));
        return firstSetting is not null && secondSetting is not null
            ? throw Usage($"Set OrchestratorAgent__{firstKey} or OrchestratorAgent__{secondKey}, not both.")
            : (firstSetting, secondSetting);
    }

    private static IEnumerable<string> Many(string[]? flags, IConfigurationSection setting)
    {
        if (flags is { Length: > 0 })
        {
            return flags;
        }

        if (setting.Value is { Length: > 0 } joined)
        {
            return joined.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }

        return setting.GetChildren().Select(c => c.Value).OfType<string>().Where(v => v.Length > 0);
    }

    private static TimeSpan Duration(string? text, string flag, TimeSpan fallback)
    {
        if (text is null)
        {
            return fallback;
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) && value >= TimeSpan.Zero
            ? value
            : int.TryParse(text, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
                ? TimeSpan.FromSeconds(seconds)
                : throw Usage($"{flag} must be seconds or hh:mm:ss, not '{text}'.");
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    private static AgentExitException Usage(string message) => new(ExitCodes.Usage, message);
}
