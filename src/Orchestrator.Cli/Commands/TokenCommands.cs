using System.CommandLine;
using System.Globalization;
using Orchestrator.Contracts;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator tokens create|ls|revoke</c>: registration tokens agents join with.</summary>
public static class TokenCommands
{
    public static Command Build(CommandFactory commands)
    {
        var description = new Option<string>("--description") { Description = "What the token is for." };
        var expiresIn = new Option<int?>("--expires-in") { Description = "Minutes until it expires (default and at most 1440)." };
        var maxUses = new Option<int?>("--max-uses") { Description = "How many agents may register with it (default 1)." };
        var label = new Option<string[]>("--label") { Description = "A label KEY=VALUE every agent registering with it gets (repeatable)." };
        var agent = new Option<string>("--agent")
        {
            Description = "For re-enrolling this agent (offline, its certificates expired): only such a token can, and it registers no other name.",
        };
        var id = CommandFactory.IdArgument("registration token");
        var limit = CommandFactory.Limit();

        return CommandFactory.Group("tokens", "Registration tokens: agents register with one.",
            commands.Command("create", "Create a registration token; it is shown once.", async run =>
            {
                var labels = Arguments.Pairs(run.Value(label), "--label");
                var request = new CreateTokenRequest(run.Value(description), run.Value(expiresIn), run.Value(maxUses),
                    labels.Count == 0 ? null : labels.ToDictionary(l => l.Key, l => (string?)l.Value, StringComparer.Ordinal),
                    Arguments.OptionalId(run.Value(agent), "an agent"));
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var created = await client.RegistrationTokens.CreateAsync(request, run.Cancellation);
                run.Show(() => new Table("ID", "TOKEN", "EXPIRES", "MAX USES")
                    .Add(created.Id.ToString(), created.Token, Output.Time(created.ExpiresAt), created.MaxUses.ToString(CultureInfo.InvariantCulture)));
                return ExitCodes.Ok;
            }, description, expiresIn, maxUses, label, agent),

            commands.Command("ls", "List registration tokens (never their secrets).", async run =>
            {
                var max = run.Value(limit);
                var client = await run.ClientAsync();
                run.Answers.Clear();
                var tokens = await Lists.TakeAsync(client.RegistrationTokens.ListAllAsync(run.Cancellation), max, run.Cancellation);
                run.ShowList(() =>
                {
                    var table = run.Wide
                        ? new Table("ID", "DESCRIPTION", "USES", "STATE", "EXPIRES", "CREATED", "CREATED BY", "LABELS", "AGENT")
                        : new Table("ID", "DESCRIPTION", "USES", "STATE", "EXPIRES");
                    foreach (var token in tokens)
                    {
                        string?[] cells = [token.Id.ToString(), token.Description, $"{token.Uses}/{token.MaxUses}", State(token, run.Now), Output.Age(token.ExpiresAt, run.Now)];
                        table.Add(run.Wide
                            ? [.. cells, Output.Time(token.CreatedAt), token.CreatedBy, Output.Labels(token.Labels), token.AgentId?.ToString()]
                            : cells);
                    }

                    return table;
                }, max);
                return ExitCodes.Ok;
            }, limit),

            commands.Command("revoke", "Revoke a registration token; agents already registered keep working.", async run =>
            {
                var tokenId = Arguments.Id(run.Value(id), "a registration token");
                var client = await run.ClientAsync();
                run.Answers.Clear();
                await client.RegistrationTokens.RevokeAsync(tokenId, run.Cancellation);
                run.Say($"registration token {tokenId} revoked");
                return ExitCodes.Ok;
            }, id));
    }

    private static string State(TokenResponse token, DateTimeOffset now) =>
        token.RevokedAt is not null ? "revoked"
        : token.Uses >= token.MaxUses ? "used"
        : DateTime.SpecifyKind(token.ExpiresAt, DateTimeKind.Utc) <= now ? "expired"
        : "active";
}
