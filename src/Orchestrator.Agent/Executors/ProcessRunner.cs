using System.Diagnostics;

namespace Orchestrator.Agent.Executors;

/// <summary>Runs a program for a task: output lines become the task's log, <see cref="TaskContext.Stopping"/> sends it
/// SIGTERM and <see cref="TaskContext.Killing"/> kills it and its children.</summary>
public static class ProcessRunner
{
    public static async Task<int> RunAsync(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment,
        string workingDirectory, TaskContext context)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new TaskFailedException($"Could not start '{fileName}': {ex.Message}", ex);
        }

        process.StandardInput.Close();
        var output = Pump(process.StandardOutput, "info", context);
        var errors = Pump(process.StandardError, "error", context);
        await using (context.Stopping.Register(() => Terminate(process)))
        await using (context.Killing.Register(() => Kill(process)))
        {
            await process.WaitForExitAsync(CancellationToken.None);
        }

        await Task.WhenAll(output, errors);
        return process.ExitCode;
    }

    /// <summary>Runs a short command and tells whether it exited 0 within <paramref name="timeout"/> (probes).</summary>
    public static async Task<bool> SucceedsAsync(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment,
        TimeSpan timeout)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        try
        {
            using var process = Process.Start(start)!;
            var drain = Task.WhenAll(process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
            using var cancel = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                Kill(process);
                return false;
            }

            await drain;
            return process.ExitCode == 0;
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return false;
        }
    }

    private static async Task Pump(StreamReader reader, string level, TaskContext context)
    {
        while (await reader.ReadLineAsync(CancellationToken.None) is { } line)
        {
            context.Log.Write(level, line);
        }
    }

    private static void Terminate(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                // SIGTERM first: the program may clean up within the grace period.
                _ = Native.Kill(process.Id, Native.SigTerm);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static class Native
    {
        public const int SigTerm = 15;

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        public static extern int Kill(int pid, int signal);
    }
}
