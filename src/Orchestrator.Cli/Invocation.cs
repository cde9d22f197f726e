using System.CommandLine;
using System.Security.Authentication;
using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Cli;

/// <summary>One run of one command: its flags, its streams and its connection, and the one place where failures
/// become exit codes and messages on stderr.</summary>
public sealed class Invocation(ParseResult parsed, CliEnvironment environment, GlobalOptions global, CancellationToken cancellationToken)
{
    private OrchestratorClient? _client;

    public ParseResult Parsed { get; } = parsed;
    public CliEnvironment Environment { get; } = environment;
    public CancellationToken Cancellation { get; } = cancellationToken;
    public TextWriter Out => Environment.Out;
    public TextWriter Error => Environment.Error;
    public OutputFormat Format => Parsed.GetValue(global.Output);
    public bool Wide => Format == OutputFormat.Wide;
    public DateTimeOffset Now => Environment.Time.GetUtcNow();

    /// <summary>The answers the API gave since the command last cleared them (for <c>-o json</c>).</summary>
    public AnswerRecorder Answers { get; private set; } = null!;

    public T Value<T>(Option<T> option) => Parsed.GetValue(option)!;

    public T Value<T>(Argument<T> argument) => Parsed.GetValue(argument)!;

    public async Task<OrchestratorClient> ClientAsync(bool needsKey = true)
    {
        if (_client is null)
        {
            (_client, Answers) = await global.ConnectAsync(Parsed, Environment, needsKey, Cancellation);
        }

        return _client;
    }

    /// <summary>The names of these agents, for tables (people read names, not ids); nothing for <c>-o json</c>, which
    /// prints the API's answers as they are. An agent that is gone, or a look-up that fails, leaves its id shown.</summary>
    public Task<IReadOnlyDictionary<Guid, string>> AgentNamesAsync(OrchestratorClient client, IEnumerable<Guid> agentIds) =>
        AgentDetailsAsync(client, agentIds, details => details.Name);

    /// <summary>The labels of these agents as a table shows them (<c>k=v,…</c>), by the same rules.</summary>
    public async Task<IReadOnlyDictionary<Guid, string?>> AgentLabelsAsync(OrchestratorClient client, IEnumerable<Guid> agentIds) =>
        (await AgentDetailsAsync(client, agentIds, details => Output.Labels(details.Labels)))
            .ToDictionary(p => p.Key, p => (string?)p.Value);

    private async Task<IReadOnlyDictionary<Guid, string>> AgentDetailsAsync(
        OrchestratorClient client, IEnumerable<Guid> agentIds, Func<AgentDetails, string> pick)
    {
        var found = new System.Collections.Concurrent.ConcurrentDictionary<Guid, string>();
        if (Format == OutputFormat.Json)
        {
            return found;
        }

        await Parallel.ForEachAsync(agentIds.Distinct(), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = Cancellation },
            async (id, cancellationToken) =>
            {
                try
                {
                    found[id] = pick(await client.Agents.GetAsync(id, cancellationToken));
                }
                catch (OrchestratorApiException)
                {
                    // Deleted meanwhile, or not visible to this key: the table shows what it has.
                }
            });
        return found;
    }

    /// <summary>Prints the API's last answer as JSON, or the table.</summary>
    public void Show(Func<Table> table)
    {
        if (Format == OutputFormat.Json)
        {
            Output.WriteJson(Out, Answers.Answers[^1]);
        }
        else
        {
            table().Write(Out);
        }
    }

    /// <summary>Prints every page the API answered since the list began as one JSON array, or the table.</summary>
    public void ShowList(Func<Table> table, int? limit)
    {
        if (Format == OutputFormat.Json)
        {
            Output.WriteJsonPages(Out, Answers.Answers, limit);
        }
        else
        {
            table().Write(Out);
        }
    }

    /// <summary>A short confirmation (deletes), or the API's JSON answer.</summary>
    public void Say(string message)
    {
        if (Format == OutputFormat.Json)
        {
            Output.WriteJson(Out, Answers.Answers[^1]);
        }
        else
        {
            Out.WriteLine(message);
        }
    }

    /// <summary>Runs the command's body and maps what went wrong to the documented exit codes.</summary>
    public async Task<int> RunAsync(Func<Invocation, Task<int>> body)
    {
        try
        {
            return await body(this);
        }
        catch (UsageException ex)
        {
            await Error.WriteLineAsync($"error: {ex.Message}");
            return ExitCodes.Usage;
        }
        catch (OrchestratorApiException ex)
        {
            await Error.WriteLineAsync($"error: {(int)ex.Status} {ex.Title}{(string.IsNullOrEmpty(ex.Detail) ? "" : $": {ex.Detail}")}");
            foreach (var (field, messages) in ex.Errors)
            {
                foreach (var message in messages)
                {
                    await Error.WriteLineAsync($"  {field}: {message}");
                }
            }

            return ExitCodes.Refused;
        }
        catch (OperationCanceledException) when (Cancellation.IsCancellationRequested)
        {
            await Error.WriteLineAsync("Interrupted.");
            return ExitCodes.Interrupted;
        }
        catch (ServerTrustException ex)
        {
            await Error.WriteLineAsync($"error: {ex.Message}");
            return ExitCodes.Unavailable;
        }
        catch (HttpRequestException ex) when (ex.HttpRequestError == HttpRequestError.SecureConnectionError || ex.InnerException is AuthenticationException)
        {
            await Error.WriteLineAsync($"error: the TLS connection to {Server} failed ({Innermost(ex)}). If its certificate is issued by the " +
                $"service's own CA, pin that CA with --ca-file or --ca-fingerprint ({GlobalOptions.CaFileVariable}).");
            return ExitCodes.Unavailable;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException or TimeoutException)
        {
            await Error.WriteLineAsync($"error: cannot reach {Server}: {Innermost(ex)}");
            return ExitCodes.Unavailable;
        }
    }

    private string Server => _client?.Options.Server.ToString() ?? "the server";

    private static string Innermost(Exception ex)
    {
        while (ex.InnerException is not null)
        {
            ex = ex.InnerException;
        }

        return ex.Message;
    }
}
