using System.CommandLine;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.Agent;
using Orchestrator.Agent.Simulation;
using Orchestrator.Client;

var flags = new Orchestrator.Agent.CommandLine();
var configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
using var tracing = AgentTelemetry.StartTracing(configuration);

var run = new Command("run", "Register this host (once) and run the tasks the server hands it, until SIGTERM.");
foreach (var option in flags.RunOptions)
{
    run.Options.Add(option);
}

run.SetAction((parsed, _) => WithSignalsAsync(parsed, needsStateDir: true, async (settings, loggers, shutdown) =>
    await new AgentHost(settings, loggers).RunAsync(shutdown)));

var simulate = new Command("simulate", "Run N lightweight noop agents in this process (load tests); they register with one token of maxUses ≥ N.");
foreach (var option in flags.SimulateOptions)
{
    simulate.Options.Add(option);
}

simulate.SetAction((parsed, _) => WithSignalsAsync(parsed, needsStateDir: false, async (settings, loggers, shutdown) =>
{
    if (settings.Token is null)
    {
        throw new AgentExitException(ExitCodes.Usage, "simulate needs a registration token (--token-file or --token) with maxUses of at least --agents.");
    }

    var trust = settings.CaFile is not null ? ServerTrust.FromFile(settings.CaFile)
        : settings.CaFingerprint is not null ? await ServerTrust.PinByFingerprintAsync(settings.Server, settings.CaFingerprint, shutdown)
        : throw new AgentExitException(ExitCodes.Usage, "simulate needs --ca-file or --ca-fingerprint.");
    var agents = parsed.GetValue(flags.Agents);
    if (agents is < 1 or > 100_000)
    {
        throw new AgentExitException(ExitCodes.Usage, "--agents must be from 1 to 100000.");
    }

    var simulator = new FleetSimulator(settings.Server, trust, settings.Token, agents, parsed.GetValue(flags.Name) ?? $"sim-{Guid.NewGuid():N}"[..12],
        loggers.CreateLogger("Orchestrator.Agent.Simulator"));
    return await simulator.RunAsync(shutdown);
}));

var root = new RootCommand("orchestrator-agent: the Orchestrator reference agent.") { run, simulate };
var parsedArgs = root.Parse(args);
if (parsedArgs.Errors.Count > 0 && parsedArgs.Action is not System.CommandLine.Help.HelpAction)
{
    foreach (var error in parsedArgs.Errors)
    {
        Console.Error.WriteLine(error.Message);
    }

    Console.Error.WriteLine("Run 'orchestrator-agent run --help' for the flags.");
    return ExitCodes.Usage;
}

// SIGTERM is handled below (drain, then exit 0), not by the parser's own short termination timeout.
return await parsedArgs.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });

// The command's settings come from its Generic Host (options bound from the environment with the flags over them, and
// checked at start); its logging goes through the host's logger factory.
async Task<int> WithSignalsAsync(ParseResult parsed, bool needsStateDir, Func<AgentSettings, ILoggerFactory, CancellationToken, Task<int>> body)
{
    using var shutdown = new CancellationTokenSource();
    void Stop(PosixSignalContext context)
    {
        context.Cancel = true;
        shutdown.Cancel();
    }

    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
    IHost? host = null;
    try
    {
        host = flags.CreateHostBuilder(parsed, configuration, needsStateDir).Build();
        var settings = Orchestrator.Agent.CommandLine.SettingsOf(host);
        await host.StartAsync(shutdown.Token);
        return await body(settings, host.Services.GetRequiredService<ILoggerFactory>(), shutdown.Token);
    }
    catch (AgentExitException ex) when (ex.ExitCode == ExitCodes.Usage)
    {
        Console.Error.WriteLine(ex.Message);
        Console.Error.WriteLine($"Run 'orchestrator-agent {parsed.CommandResult.Command.Name} --help' for the flags.");
        return ex.ExitCode;
    }
    catch (AgentExitException ex)
    {
        if (host is null)
        {
            Console.Error.WriteLine(ex.Message);
        }
        else
        {
            host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Orchestrator.Agent").LogCritical("{Message}", ex.Message);
        }

        return ex.ExitCode;
    }
    finally
    {
        if (host is not null)
        {
            await host.StopAsync(CancellationToken.None);
            host.Dispose();
        }
    }
}
