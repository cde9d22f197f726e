using System.Diagnostics;
using Orchestrator.Testing;

namespace Orchestrator.Cli.Tests;

/// <summary>The built command as CI runs it: a process of its own, configured by environment variables.</summary>
public sealed class ProcessTests(CliFixture service) : IClassFixture<CliFixture>
{
    [Fact]
    public async Task The_command_reads_its_connection_from_the_environment_and_exits_2_on_a_refusal()
    {
        var missing = Guid.NewGuid();
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Orchestrator.Cli.dll"), "tasks", "get", missing.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["ORCHESTRATOR_URL"] = service.App.BaseAddress.ToString(),
                ["ORCHESTRATOR_API_KEY"] = TestApp.AdminKey,
                ["ORCHESTRATOR_CA_FILE"] = service.CaFile,
            },
        };

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(ExitCodes.Refused, process.ExitCode);
        Assert.Empty(await output);
        Assert.Contains($"404 Not found: No task has id {missing}.", await error, StringComparison.Ordinal);
    }
}
