namespace Orchestrator.Cli;

/// <summary>What the command reads and writes besides the network: its streams, whether a person watches stdout, and
/// environment variables. Tests run the command in-process with their own.</summary>
public sealed record CliEnvironment(TextWriter Out, TextWriter Error, TextReader In, bool OutputIsTerminal, Func<string, string?> Variable)
{
    /// <summary>The command's clock (ages in tables, time waited): the system's, a fake one in tests.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public static CliEnvironment FromConsole() =>
        new(Console.Out, Console.Error, Console.In, !Console.IsOutputRedirected && !Console.IsErrorRedirected, Environment.GetEnvironmentVariable);
}
