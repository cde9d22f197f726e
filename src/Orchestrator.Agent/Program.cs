using System.CommandLine;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Configuration;
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

run.SetAction((parsed, _) => WithSignalsAsync(parsed, async (loggers, shutdown) =>
{
    var settings = flags.Read(parsed, configuration);
    return await new AgentHost(settings, loggers).RunAsync(shutdown);
}));

var simulate = new Command("simulate", "Run N lightweight noop agents in this process (load tests); they register with one token of maxUses ≥ N.");
foreach (var option in flags.SimulateOptions)
{
    simulate.Options.Add(option);
}

simulate.SetAction((parsed, _) => WithSignalsAsync(parsed, async (loggers, shutdown) =>
{
    var settings = flags.Read(parsed, configuration, needsStateDir: false);
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

async Task<int> WithSignalsAsync(ParseResult parsed, Func<ILoggerFactory, CancellationToken, Task<int>> body)
{
    Microsoft.Extensions.Logging.LogLevel level;
    try
    {
        level = flags.ReadLogLevel(parsed, configuration);
    }
    catch (AgentExitException ex)
    {
        Console.Error.WriteLine(ex.Message);
        return ex.ExitCode;
    }

    using var loggers = LoggerFactory.Create(logging => logging
        .SetMinimumLevel(level)
        .AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.UseUtcTimestamp = true;
            console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        }));
    using var shutdown = new CancellationTokenSource();
    void Stop(PosixSignalContext context)
    {
        context.Cancel = true;
        shutdown.Cancel();
    }

    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
    try
    {
        return await body(loggers, shutdown.Token);
    }
    catch (AgentExitException ex) when (ex.ExitCode == ExitCodes.Usage)
    {
        Console.Error.WriteLine(ex.Message);
        Console.Error.WriteLine($"Run 'orchestrator-agent {parsed.CommandResult.Command.Name} --help' for the flags.");
        return ex.ExitCode;
    }
    catch (AgentExitException ex)
    {
        loggers.CreateLogger("Orchestrator.Agent").LogCritical("{Message}", ex.Message);
        return ex.ExitCode;
    }
}
