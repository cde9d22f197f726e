using System.CommandLine;
using System.Globalization;
using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator agents ls|get|label|drain|resume|rm</c>.</summary>
public static class AgentCommands
{
    public static Command Build(CommandFactory commands)
    {
        var status = CommandFactory.WireEnum<AgentStatus>("--status", "Only agents in this state.");
        var capability = new Option<string[]>("--capability") { Description = "Only agents with this capability (repeatable: all must match)." };
        var label = new Option<string[]>("--label") { Description = "Only agents with this label KEY=VALUE (repeatable: all must match)." };
        var limit = CommandFactory.Limit();
        var id = CommandFactory.IdArgument("agent");
        var labels = new Argument<string[]>("labels")
        {
            Description = "KEY=VALUE to set a label, KEY- to remove one.",
            Arity = ArgumentArity.OneOrMore,
        };
        var reason = new Option<string>("--reason") { Description = "Why (shown in the agent's details and the audit trail)." };
        var deadline = new Option<string>("--deadline") { Description = "When the drain should be done: an ISO-8601 time, or a duration from now (30m, 2h)." };

        return CommandFactory.Group("agents", "The agents registered with the service.",
            commands.Command("ls", "List agents (every page).", async run =>
            {
                var filter = new AgentFilter(
                    run.Value(status),
                    run.Value(capability) is { Length: > 0 } capabilities ? capabilities : null,
                    Arguments.Pairs(run.Value(label), "--label") is { Count: > 0 } pairs ? pairs : null);
                var max = run.Value(limit);
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var agents = await Lists.TakeAsync(client.Agents.ListAllAsync(filter, run.Cancellation), max, run.Cancellation);
                // The list answer is the spec's summary, without labels: the wide table reads each agent's details for them.
                var labels = run.Wide ? await run.AgentLabelsAsync(client, agents.Select(a => a.Id)) : new Dictionary<Guid, string?>();
                run.ShowList(() =>
                {
                    var table = run.Wide
                        ? new Table("ID", "NAME", "STATUS", "LAST HEARTBEAT", "CAPABILITIES", "VERSION", "CPU", "MEMORY", "DISK", "LABELS")
                        : new Table("ID", "NAME", "STATUS", "LAST HEARTBEAT", "CAPABILITIES");
                    foreach (var agent in agents)
                    {
                        string?[] cells = [agent.Id.ToString(), agent.Name, WireNames.Of(agent.Status), Output.Age(agent.LastHeartbeat, run.Now),
                            Output.Join(agent.Capabilities)];
                        table.Add(run.Wide
                            ? [.. cells, agent.Version, Percent(agent.ResourceUsage.Cpu), Percent(agent.ResourceUsage.Memory), Percent(agent.ResourceUsage.Disk),
                                labels.GetValueOrDefault(agent.Id)]
                            : cells);
                    }

                    return table;
                }, max);
                return ExitCodes.Ok;
            }, status, capability, label, limit),

            commands.Command("get", "Show an agent.", async run =>
            {
                var agentId = Arguments.Id(run.Value(id), "an agent");
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var agent = await client.Agents.GetAsync(agentId, run.Cancellation);
                Show(run, agent);
                return ExitCodes.Ok;
            }, id),

            commands.Command("label", "Set (KEY=VALUE) or remove (KEY-) labels of an agent; other labels stay.", async run =>
            {
                var agentId = Arguments.Id(run.Value(id), "an agent");
                var changes = new Dictionary<string, string?>(StringComparer.Ordinal);
                foreach (var text in run.Value(labels))
                {
                    if (text.EndsWith('-') && !text.Contains('=', StringComparison.Ordinal) && text.Length > 1)
                    {
                        changes[text[..^1]] = null;
                    }
                    else
                    {
                        var (key, value) = Arguments.Pair(text, "A label");
                        changes[key] = value;
                    }
                }

                var client = await run.ClientAsync();
                var current = await client.Agents.GetAsync(agentId, run.Cancellation);
                var updated = new Dictionary<string, string?>(current.Labels.Select(l => KeyValuePair.Create(l.Key, (string?)l.Value)), StringComparer.Ordinal);
                foreach (var (key, value) in changes)
                {
                    if (value is null)
                    {
                        updated.Remove(key);
                    }
                    else
                    {
                        updated[key] = value;
                    }
                }

                run.Answers.Clear();
                var agent = await client.Agents.UpdateAsync(agentId, new UpdateAgentRequest(updated, null), run.Cancellation);
                Show(run, agent);
                return ExitCodes.Ok;
            }, id, labels),

            commands.Command("drain", "Drain an agent: it gets no new tasks and finishes the ones it runs.", async run =>
            {
                var agentId = Arguments.Id(run.Value(id), "an agent");
                var until = run.Value(deadline) is { } text ? Arguments.Deadline(text, "--deadline", run.Now) : (DateTime?)null;
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var agent = await client.Agents.DrainAsync(agentId, new DrainRequest(run.Value(reason), until), run.Cancellation);
                Show(run, agent);
                return ExitCodes.Ok;
            }, id, reason, deadline),

            commands.Command("resume", "Resume a drained agent: it takes tasks again.", async run =>
            {
                var agentId = Arguments.Id(run.Value(id), "an agent");
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var agent = await client.Agents.ResumeAsync(agentId, run.Cancellation);
                Show(run, agent);
                return ExitCodes.Ok;
            }, id),

            commands.Command("rm", "Delete an agent: its credentials are revoked and its unfinished tasks cancelled.", async run =>
            {
                var agentId = Arguments.Id(run.Value(id), "an agent");
                var client = await run.ClientAsync();
                run.Answers.Clear();
                await client.Agents.DeleteAsync(agentId, run.Cancellation);
                run.Say($"agent {agentId} deleted");
                return ExitCodes.Ok;
            }, id));
    }

    /// <summary>The agent, then (as a table) the capabilities it looked for and did not find, with its reasons; or the
    /// API's JSON, which holds them as <c>missingCapabilities</c>.</summary>
    private static void Show(Invocation run, AgentDetails agent)
    {
        run.Show(() => Details(run, agent));
        if (run.Format != OutputFormat.Json && agent.MissingCapabilities is { Count: > 0 } missing)
        {
            run.Out.WriteLine();
            var table = new Table("MISSING CAPABILITY", "REASON");
            foreach (var (capability, reason) in missing.OrderBy(m => m.Key, StringComparer.Ordinal))
            {
                table.Add(capability, reason);
            }

            table.Write(run.Out);
        }
    }

    private static Table Details(Invocation run, AgentDetails agent)
    {
        string?[] cells = [agent.Id.ToString(), agent.Name, WireNames.Of(agent.Status), agent.Draining ? "yes" : "no",
            agent.RunningTasks.ToString(CultureInfo.InvariantCulture), Output.Age(agent.LastHeartbeat, run.Now), Output.Labels(agent.Labels)];
        if (!run.Wide)
        {
            return new Table("ID", "NAME", "STATUS", "DRAINING", "RUNNING", "LAST HEARTBEAT", "LABELS").Add(cells);
        }

        return new Table("ID", "NAME", "STATUS", "DRAINING", "RUNNING", "LAST HEARTBEAT", "LABELS", "VERSION", "CAPABILITIES", "TASK TYPES",
                "TARGETS", "CERTIFICATE EXPIRES", "REGISTERED")
            .Add([.. cells, agent.Version, Output.Join(agent.Capabilities), agent.TaskTypes is null ? "any" : Output.Join(agent.TaskTypes),
                Output.Join(agent.Targets.Select(t => t.Name)),
                Output.Time(agent.CertificateExpiresAt), Output.Time(agent.RegisteredAt)]);
    }

    private static string? Percent(double? value) => value is { } v ? v.ToString("0.#", CultureInfo.InvariantCulture) + "%" : null;
}
