using System.CommandLine;
using Orchestrator.Contracts;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator api-keys create|ls|revoke</c> (admin).</summary>
public static class ApiKeyCommands
{
    public static Command Build(CommandFactory commands)
    {
        var name = new Option<string>("--name") { Description = "Who or what uses the key.", Required = true };
        var role = CommandFactory.WireEnum<ApiKeyRole>("--role", "viewer (reads), operator (agents, tokens, tasks, targets) or admin.");
        role.Required = true;
        var id = CommandFactory.IdArgument("API key");
        var limit = CommandFactory.Limit();

        return CommandFactory.Group("api-keys", "API keys of operators and CI (admin).",
            commands.Command("create", "Create an API key; it is shown once.", async run =>
            {
                var request = new CreateApiKeyRequest(run.Value(name), run.Value(role)!.Value);
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var created = await client.ApiKeys.CreateAsync(request, run.Cancellation);
                run.Show(() => new Table("ID", "NAME", "ROLE", "KEY").Add(created.Id.ToString(), created.Name, WireNames.Of(created.Role), created.Key));
                return ExitCodes.Ok;
            }, name, role),

            commands.Command("ls", "List API keys (never the keys themselves).", async run =>
            {
                var max = run.Value(limit);
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var keys = await Lists.TakeAsync(client.ApiKeys.ListAllAsync(run.Cancellation), max, run.Cancellation);
                run.ShowList(() =>
                {
                    var table = new Table("ID", "NAME", "ROLE", "AGE", "CREATED BY");
                    foreach (var key in keys)
                    {
                        table.Add(key.Id.ToString(), key.Name, WireNames.Of(key.Role), Output.Age(key.CreatedAt, run.Now), key.CreatedBy);
                    }

                    return table;
                }, max);
                return ExitCodes.Ok;
            }, limit),

            commands.Command("revoke", "Revoke an API key (the last admin key cannot be revoked).", async run =>
            {
                var keyId = Arguments.Id(run.Value(id), "an API key");
                var client = await run.ClientAsync();
                run.Answers.Clear();
                await client.ApiKeys.RevokeAsync(keyId, run.Cancellation);
                run.Say($"API key {keyId} revoked");
                return ExitCodes.Ok;
            }, id));
    }
}
