using System.CommandLine;
using Orchestrator.Client;

namespace Orchestrator.Cli;

/// <summary>The flags every command takes, before or after the subcommand, and the environment variables behind them.
/// The API key is read from a file or the environment only: a key on the command line would show in process lists
/// and shell history.</summary>
public sealed class GlobalOptions
{
    public const string ServerVariable = "ORCHESTRATOR_URL";
    public const string ApiKeyVariable = "ORCHESTRATOR_API_KEY";
    public const string CaFileVariable = "ORCHESTRATOR_CA_FILE";
    public const string CaFingerprintVariable = "ORCHESTRATOR_CA_FINGERPRINT";

    public Option<string> Server { get; } = new("--server")
    {
        Description = $"The service URL, e.g. https://orchestrator.example:8443 (or {ServerVariable}).",
        Recursive = true,
    };

    public Option<string> ApiKeyFile { get; } = new("--api-key-file")
    {
        Description = $"File holding the API key (or the key itself in {ApiKeyVariable}).",
        Recursive = true,
    };

    public Option<string> CaFile { get; } = new("--ca-file")
    {
        Description = $"PEM bundle of the service's CA to pin (or {CaFileVariable}). Without it or --ca-fingerprint, the system's trust store is used.",
        Recursive = true,
    };

    public Option<string> CaFingerprint { get; } = new("--ca-fingerprint")
    {
        Description = $"sha256:HEX of the service's CA certificate; the CA bundle is fetched and pinned if it matches (or {CaFingerprintVariable}).",
        Recursive = true,
    };

    public Option<OutputFormat> Output { get; } = new("--output", "-o")
    {
        Description = "table (default), wide (more columns) or json (the API's JSON, for jq).",
        HelpName = "table|wide|json",
        Recursive = true,
        DefaultValueFactory = _ => OutputFormat.Table,
        CustomParser = result => result.Tokens.Single().Value switch
        {
            "table" => OutputFormat.Table,
            "wide" => OutputFormat.Wide,
            "json" => OutputFormat.Json,
            var other => Fail(result, $"-o must be table, wide or json, not '{other}'."),
        },
    };

    public GlobalOptions()
    {
        // The words -o takes, not the enum's member names.
        Output.CompletionSources.Clear();
        Output.CompletionSources.Add("table", "wide", "json");
    }

    public IEnumerable<Option> All => [Server, ApiKeyFile, CaFile, CaFingerprint, Output];

    private static OutputFormat Fail(System.CommandLine.Parsing.ArgumentResult result, string message)
    {
        result.AddError(message);
        return OutputFormat.Table;
    }

    /// <summary>The client for this invocation, or a usage error naming what is missing.</summary>
    public async Task<(OrchestratorClient Client, AnswerRecorder Answers)> ConnectAsync(ParseResult parsed, CliEnvironment environment,
        bool needsKey, CancellationToken cancellationToken)
    {
        var serverText = Value(parsed, Server, environment, ServerVariable)
            ?? throw new UsageException($"No server: give --server https://HOST:PORT or set {ServerVariable}.");
        if (!Uri.TryCreate(serverText, UriKind.Absolute, out var server) || server.Scheme != Uri.UriSchemeHttps || server.Host.Length == 0)
        {
            throw new UsageException($"--server must be an https:// URL, not '{serverText}'.");
        }

        string? apiKey = null;
        if (Value(parsed, ApiKeyFile, environment, null) is { } keyFile)
        {
            try
            {
                apiKey = (await File.ReadAllTextAsync(keyFile, cancellationToken)).Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"Cannot read the API key file {keyFile}: {ex.Message}");
            }

            if (apiKey.Length == 0)
            {
                throw new UsageException($"The API key file {keyFile} is empty.");
            }
        }
        else if (environment.Variable(ApiKeyVariable) is { Length: > 0 } fromEnvironment)
        {
            apiKey = fromEnvironment.Trim();
        }

        if (needsKey && apiKey is null)
        {
            throw new UsageException($"No API key: give --api-key-file FILE or set {ApiKeyVariable}.");
        }

        var trust = await TrustAsync(parsed, environment, server, cancellationToken);
        var options = new OrchestratorClientOptions
        {
            Server = server,
            Trust = trust,
            UserAgent = $"orchestrator-cli/{OrchestratorClientOptions.Version}",
        };
        var answers = new AnswerRecorder { InnerHandler = options.CreateHandler() };
        return (new OrchestratorClient(options, apiKey, answers), answers);
    }

    private async Task<ServerTrust?> TrustAsync(ParseResult parsed, CliEnvironment environment, Uri server, CancellationToken cancellationToken)
    {
        var caFile = Value(parsed, CaFile, environment, CaFileVariable);
        var fingerprint = Value(parsed, CaFingerprint, environment, CaFingerprintVariable);
        if (caFile is not null && fingerprint is not null)
        {
            throw new UsageException("Give --ca-file or --ca-fingerprint, not both.");
        }

        if (caFile is not null)
        {
            try
            {
                return ServerTrust.FromFile(caFile);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new UsageException($"Cannot use the CA file {caFile}: {ex.Message}");
            }
        }

        if (fingerprint is not null)
        {
            try
            {
                ServerTrust.ParseFingerprint(fingerprint);
            }
            catch (ArgumentException ex)
            {
                throw new UsageException($"--ca-fingerprint: {ex.Message}");
            }

            return await ServerTrust.PinByFingerprintAsync(server, fingerprint, cancellationToken);
        }

        return null;
    }

    private static string? Value(ParseResult parsed, Option<string> option, CliEnvironment environment, string? variable) =>
        parsed.GetValue(option) is { Length: > 0 } flag ? flag
        : variable is not null && environment.Variable(variable) is { Length: > 0 } fromEnvironment ? fromEnvironment
        : null;
}

public enum OutputFormat
{
    Table,
    Wide,
    Json,
}
