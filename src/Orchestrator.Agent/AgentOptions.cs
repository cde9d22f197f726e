using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;

namespace Orchestrator.Agent;

/// <summary>The agent's settings as configuration binds them: section <c>OrchestratorAgent</c> from the environment
/// (<c>OrchestratorAgent__Server</c>, ...), with the flags laid over it by <see cref="CommandLine"/> (a flag wins).
/// Checked at start by the source-generated <see cref="AgentOptionsValidator"/> (which calls <see cref="Validate"/>);
/// every message names the flag, without the property prefix attribute messages would carry.
/// <c>Label</c> and <c>Capability</c> are read by <see cref="CommandLine"/> (one comma-separated value or a list).</summary>
public sealed class AgentOptions : IValidatableObject
{
    public const string Section = "OrchestratorAgent";

    public string? Server { get; set; }
    public string? StateDir { get; set; }
    public string? TokenFile { get; set; }
    public string? Token { get; set; }
    public string? CaFile { get; set; }
    public string? CaFingerprint { get; set; }
    public string? Name { get; set; }
    public string? DockerHost { get; set; }

    public int MaxTasks { get; set; } = 2;

    public bool AllowShell { get; set; }
    public string? GracePeriod { get; set; }
    public string? ShutdownTimeout { get; set; }
    public string? LogLevel { get; set; }

    /// <summary>Whether the command needs a state directory (<c>run</c> does, <c>simulate</c> does not); set by the command.</summary>
    public bool NeedsStateDir { get; set; } = true;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrWhiteSpace(Server))
        {
            yield return new ValidationResult("--server is required (or OrchestratorAgent__Server).");
        }
        else if (!Uri.TryCreate(Server, UriKind.Absolute, out var server) || server.Scheme != Uri.UriSchemeHttps)
        {
            yield return new ValidationResult($"--server must be an https:// URL, not '{Server}'.");
        }

        if (NeedsStateDir && string.IsNullOrWhiteSpace(StateDir))
        {
            yield return new ValidationResult("--state-dir is required (or OrchestratorAgent__StateDir).");
        }

        // A flag blanks the setting of its alternative (it wins); two settings together are a mistake to say.
        if (MaxTasks is < 1 or > 64)
        {
            yield return new ValidationResult($"--max-tasks must be from 1 to 64, not {MaxTasks}.");
        }

        var pairs = new[] { ("TokenFile", TokenFile, "Token", Token), ("CaFile", CaFile, "CaFingerprint", CaFingerprint) };
        foreach (var (first, firstValue, second, secondValue) in pairs)
        {
            if (!string.IsNullOrEmpty(firstValue) && !string.IsNullOrEmpty(secondValue))
            {
                yield return new ValidationResult($"Set {Section}__{first} or {Section}__{second}, not both.");
            }
        }

        if (!string.IsNullOrEmpty(CaFingerprint) && FingerprintError(CaFingerprint) is { } fingerprint)
        {
            yield return new ValidationResult($"--ca-fingerprint: {fingerprint}");
        }

        foreach (var (flag, text) in new[] { ("--grace-period", GracePeriod), ("--shutdown-timeout", ShutdownTimeout) })
        {
            if (text is not null && !Durations.TryParse(text, out _))
            {
                yield return new ValidationResult(Durations.Error(flag, text));
            }
        }

        if (LogLevel is not null && ParseLogLevel(LogLevel) is null)
        {
            yield return new ValidationResult($"--log-level must be trace, debug, information, warning or error, not '{LogLevel}'.");
        }
    }

    /// <summary>The level a <c>--log-level</c> names (information when none), or null when it names none.</summary>
    public static Microsoft.Extensions.Logging.LogLevel? ParseLogLevel(string? text) =>
        text is null ? Microsoft.Extensions.Logging.LogLevel.Information
        : text.Length > 2 && Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(text, ignoreCase: true, out var level) ? level
        : null;

    private static string? FingerprintError(string fingerprint)
    {
        try
        {
            Client.ServerTrust.ParseFingerprint(fingerprint);
            return null;
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
    }
}

[OptionsValidator]
public sealed partial class AgentOptionsValidator : IValidateOptions<AgentOptions>;
