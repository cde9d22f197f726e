using Orchestrator.Agent.Executors;
using Orchestrator.Agent.Listener;
using Orchestrator.Agent.Tests.Support;
using Orchestrator.Testing;

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

        var detected = await detector.CurrentAsync(CancellationToken.None);
        await detector.CurrentAsync(CancellationToken.None);

        Assert.Equal(["ssh"], detected.Capabilities);
        Assert.False(detected.Degraded);
        var warning = Assert.Single(logs.Lines, l => l.Contains("No Docker Engine", StringComparison.Ordinal));
        Assert.StartsWith("Warning", warning, StringComparison.Ordinal);
        Assert.Contains(socket, warning, StringComparison.Ordinal);
        Assert.Contains("DOCKER_HOST", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_capability_looked_for_and_not_found_is_missing_with_a_reason_naming_the_engine_unless_the_operator_gave_it()
    {
        var socket = Path.Combine(TempDirectories.New(), "no-docker.sock");
        var settings = new AgentSettings
        {
            Server = new Uri("https://orchestrator.example"), StateDir = TempDirectories.New(), DockerHost = $"unix://{socket}",
            DockerHostSource = "DOCKER_HOST",
        };
        using var docker = new DockerEngine(settings.DockerHost);
        using var logs = new CapturedAgentLogs();

        Task<CapabilityDetector.Detected> Detect(AgentSettings given) =>
            new CapabilityDetector(given, docker, TimeProvider.System, logs.CreateLogger("agent")).CurrentAsync(CancellationToken.None);

        var detected = await Detect(settings);
        var given = await Detect(settings with { Capabilities = ["docker"] });
        var notLooking = await Detect(settings with { DetectCapabilities = false });

        Assert.Equal(["compose", "docker"], detected.Missing.Keys.Order(StringComparer.Ordinal));
        Assert.StartsWith($"no Docker Engine answered at unix://{socket} (from DOCKER_HOST): ", detected.Missing["docker"], StringComparison.Ordinal);
        Assert.Equal(["docker"], given.Capabilities);
        Assert.Equal(["compose"], given.Missing.Keys);
        Assert.Empty(notLooking.Missing);
    }

    [Fact]
    public void A_reason_goes_out_as_one_line_within_the_services_bound()
    {
        Assert.Equal("refused: try again", CapabilityDetector.OneLine("refused:\n  try again\r\n"));
        var cut = CapabilityDetector.OneLine(new string('x', 600));
        Assert.Equal(CapabilityDetector.MaxReasonLength, cut.Length);
        Assert.EndsWith("…", cut, StringComparison.Ordinal);
    }
}
