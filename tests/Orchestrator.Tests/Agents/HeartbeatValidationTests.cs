using Orchestrator.Agents;

namespace Orchestrator.Tests.Agents;

public sealed class HeartbeatValidationTests
{
    private static HeartbeatRequest Valid() => new("healthy", new HeartbeatResourceUsage(15.5, 45.2, 60), ["docker", "compose"], 2, null);

    [Fact]
    public void The_spec_example_is_valid_and_healthy_means_online()
    {
        Assert.True(Heartbeat.TryRead(Valid(), out var heartbeat, out _));
        Assert.Equal(AgentStatus.Online, heartbeat.Status);
        Assert.Equal(["compose", "docker"], heartbeat.Capabilities!);
    }

    [Fact]
    public void Degraded_means_degraded()
    {
        Assert.True(Heartbeat.TryRead(Valid() with { Status = "degraded" }, out var heartbeat, out _));
        Assert.Equal(AgentStatus.Degraded, heartbeat.Status);
    }

    public static TheoryData<HeartbeatRequest, string> Invalid => new()
    {
        { Valid() with { Status = "offline" }, "status" },
        { Valid() with { Status = null }, "status" },
        { Valid() with { ResourceUsage = new(-1, 1, 1) }, "resourceUsage.cpu" },
        { Valid() with { ResourceUsage = new(1, 100.5, 1) }, "resourceUsage.memory" },
        { Valid() with { ResourceUsage = new(1, 1, double.NaN) }, "resourceUsage.disk" },
        { Valid() with { Capabilities = ["docker", "kubernetes"] }, "capabilities" },
        { Valid() with { Capabilities = Enumerable.Repeat<string?>("docker", 17).ToList() }, "capabilities" },
        { Valid() with { RunningTasks = -1 }, "runningTasks" },
        { Valid() with { Csr = new string('a', 20_000) }, "csr" },
    };

    [Theory, MemberData(nameof(Invalid))]
    public void Bad_values_are_rejected_naming_the_field(HeartbeatRequest request, string field)
    {
        Assert.False(Heartbeat.TryRead(request, out _, out var errors));
        Assert.True(errors.Errors.Keys.Any(k => k.StartsWith(field, StringComparison.Ordinal)), string.Join(", ", errors.Errors.Keys));
    }
}
