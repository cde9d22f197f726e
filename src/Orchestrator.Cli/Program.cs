using System.Runtime.InteropServices;
using Orchestrator.Cli;

using var interrupted = new CancellationTokenSource();
void Stop(PosixSignalContext context)
{
    // Stop waiting at once and say so; a second Ctrl-C is not needed.
    context.Cancel = true;
    interrupted.Cancel();
}

using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
return await CliApp.RunAsync(args, CliEnvironment.FromConsole(), interrupted.Token);
