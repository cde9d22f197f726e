using System.CommandLine;
using System.Text.Json;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator audit ls</c> (admin): who did what, newest first.</summary>
public static class AuditCommands
{
    public static Command Build(CommandFactory commands)
    {
        var action = new Option<string>("--action") { Description = "Only this action, e.g. task.created or agent.deleted." };
        var subject = new Option<string>("--subject") { Description = "Only events about this id (an agent, a task, a token...)." };
        var limit = CommandFactory.Limit("100");

        return CommandFactory.Group("audit", "The audit trail (admin).",
            commands.Command("ls", "List audit events, newest first.", async run =>
            {
                var max = run.Value(limit) ?? 100;
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var events = await Lists.TakeAsync(client.Audit.ListAllAsync(run.Value(action), run.Value(subject), run.Cancellation), max, run.Cancellation);
                run.ShowList(() =>
                {
                    var table = run.Wide
                        ? new Table("TIME", "ACTOR", "ACTION", "SUBJECT", "ID", "DETAILS")
                        : new Table("TIME", "ACTOR", "ACTION", "SUBJECT");
                    foreach (var item in events)
                    {
                        string?[] cells = [Output.Time(item.Timestamp), item.Actor, item.Action, item.SubjectId is null ? item.SubjectType : $"{item.SubjectType}/{item.SubjectId}"];
                        table.Add(run.Wide
                            ? [.. cells, item.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
                                item.Details is { ValueKind: not JsonValueKind.Null } details ? details.GetRawText() : null]
                            : cells);
                    }

                    return table;
                }, max);
                return ExitCodes.Ok;
            }, action, subject, limit));
    }
}
