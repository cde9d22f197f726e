using Orchestrator.Agent.Executors;
using Orchestrator.Agent.Listener;
using Orchestrator.Agent.Tests.Support;

namespace Orchestrator.Agent.Tests.Unit;

public sealed class CapabilityDetectorTests
{
    [Fact]
    public async Task An_engine_that_does_not_answer_is_said_once_naming_where_it_was_looked_for()
    {
        var socket = Path.Combine(TempDirectories.New(), "no-docker.sock");
        var settings = new AgentSettings
        {
            Server = new Uri("https://orchestrator.example"), StateDir = TempDirectories.New(), DockerHost = $"unix://{socket}",
            DockerHostSource = "DOCKER_HOST", Capabilities = ["ssh"],
        };
        using var docker = new DockerEngine(settings.DockerHost);
        using var logs = new CapturedAgentLogs();
        var detector = new CapabilityDetector(settings, docker, TimeProvider.System, logs.CreateLogger("agent"));

        var (capabilities, degraded) = await detector.CurrentAsync(CancellationToken.None);
        await detector.CurrentAsync(CancellationToken.None);

        Assert.Equal(["ssh"], capabilities);
        Assert.False(degraded);
        var warning = Assert.Single(logs.Lines, l => l.Contains("No Docker Engine", StringComparison.Ordinal));
        Assert.StartsWith("Warning", warning, StringComparison.Ordinal);
        Assert.Contains(socket, warning, StringComparison.Ordinal);
        Assert.Contains("DOCKER_HOST", warning, StringComparison.Ordinal);
    }
}
