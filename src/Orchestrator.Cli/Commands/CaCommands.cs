using System.CommandLine;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator ca bundle</c>: the service's trust bundle, to pin (agents, curl, this command's --ca-file).</summary>
public static class CaCommands
{
    public static Command Build(CommandFactory commands) =>
        CommandFactory.Group("ca", "The service's certificate authority.",
            commands.Command("bundle", "Print the CA trust bundle (PEM; every currently trusted root). Needs no API key; pin the " +
                "server first with --ca-fingerprint or --ca-file, or the system's trust store is used.", async run =>
            {
                var client = await run.ClientAsync(needsKey: false);
                var pem = await client.Ca.GetBundleAsync(run.Cancellation);
                await run.Out.WriteAsync(pem.EndsWith('\n') ? pem : pem + "\n");
                return ExitCodes.Ok;
            }));
}
