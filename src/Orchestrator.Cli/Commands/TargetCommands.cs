using System.CommandLine;
using System.Text.Json;
using Orchestrator.Contracts;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator targets create|ls|rm</c>: named deployment targets, each served by an agent.</summary>
public static class TargetCommands
{
    public static Command Build(CommandFactory commands)
    {
        var name = new Option<string>("--name") { Description = "The target's name.", Required = true };
        var type = new Option<string>("--type") { Description = "Its type, e.g. docker-host.", Required = true };
        var agent = new Option<string>("--agent") { Description = "The agent that serves it." };
        var properties = new Option<string>("--properties") { Description = "Its properties: a JSON object, @FILE, or @- for standard input." };
        var property = new Option<string[]>("--property") { Description = "A string property KEY=VALUE (repeatable; not with --properties)." };
        var listAgent = new Option<string>("--agent") { Description = "Only targets of this agent." };
        var listType = new Option<string>("--type") { Description = "Only targets of this type." };
        var id = CommandFactory.IdArgument("target");
        var limit = CommandFactory.Limit();

        return CommandFactory.Group("targets", "Deployment targets.",
            commands.Command("create", "Create a target.", async run =>
            {
                var pairs = Arguments.Pairs(run.Value(property), "--property");
                if (pairs.Count > 0 && run.Value(properties) is not null)
                {
                    throw new UsageException("Give --properties or --property, not both.");
                }

                var values = pairs.Count > 0
                    ? JsonSerializer.SerializeToElement(pairs, OrchestratorJsonContext.Default.DictionaryStringString)
                    : Arguments.JsonObject(run.Value(properties), "--properties", run.Environment);
                var request = new CreateTargetRequest(run.Value(name), run.Value(type), Arguments.OptionalId(run.Value(agent), "an agent"), values);
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var created = await client.Targets.CreateAsync(request, run.Cancellation);
                run.Show(() => Targets(run, created));
                return ExitCodes.Ok;
            }, name, type, agent, properties, property),

            commands.Command("ls", "List targets.", async run =>
            {
                var agentId = Arguments.OptionalId(run.Value(listAgent), "an agent");
                var max = run.Value(limit);
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var targets = await Lists.TakeAsync(client.Targets.ListAllAsync(agentId, run.Value(listType), run.Cancellation), max, run.Cancellation);
                run.ShowList(() => Targets(run, [.. targets]), max);
                return ExitCodes.Ok;
            }, listAgent, listType, limit),

            commands.Command("rm", "Delete a target.", async run =>
            {
                var targetId = Arguments.Id(run.Value(id), "a target");
                var client = await run.ClientAsync();
                run.Answers.Clear();
                await client.Targets.DeleteAsync(targetId, run.Cancellation);
                run.Say($"target {targetId} deleted");
                return ExitCodes.Ok;
            }, id));
    }

    private static Table Targets(Invocation run, params TargetResponse[] targets)
    {
        var table = run.Wide ? new Table("ID", "NAME", "TYPE", "AGENT", "AGE", "PROPERTIES") : new Table("ID", "NAME", "TYPE", "AGENT", "AGE");
        foreach (var target in targets)
        {
            string?[] cells = [target.Id.ToString(), target.Name, target.Type, target.AgentId?.ToString(), Output.Age(target.CreatedAt, run.Now)];
            table.Add(run.Wide
                ? [.. cells, target.Properties is { ValueKind: not JsonValueKind.Null } p ? p.GetRawText() : null]
                : cells);
        }

        return table;
    }
}
