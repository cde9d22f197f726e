using Docker.DotNet;
using Orchestrator.Agent.Tests.Support;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.Docker;

/// <summary>Where the test Docker Engine and registry are (eng/test-docker.sh prints these). Without them the Docker tests
/// skip, unless <c>ORCHESTRATOR_REQUIRE_DOCKER=1</c> (CI), where missing ones fail.</summary>
public static class TestDocker
{
    public static string? Host => Environment.GetEnvironmentVariable("ORCHESTRATOR_TEST_DOCKER_HOST");
    public static string Image => Environment.GetEnvironmentVariable("ORCHESTRATOR_TEST_IMAGE") ?? "orchestrator-test/busybox:1";
    public static string? RegistryImage => Environment.GetEnvironmentVariable("ORCHESTRATOR_TEST_REGISTRY_IMAGE");
    public static string? RegistryUser => Environment.GetEnvironmentVariable("ORCHESTRATOR_TEST_REGISTRY_USER");
    public static string? RegistryPassword => Environment.GetEnvironmentVariable("ORCHESTRATOR_TEST_REGISTRY_PASSWORD");

    public static void Require()
    {
        var missing = Host is null || RegistryImage is null || RegistryUser is null || RegistryPassword is null;
        if (missing && Environment.GetEnvironmentVariable("ORCHESTRATOR_REQUIRE_DOCKER") == "1")
        {
            Assert.Fail("ORCHESTRATOR_REQUIRE_DOCKER=1 but ORCHESTRATOR_TEST_DOCKER_HOST / ORCHESTRATOR_TEST_REGISTRY_* are not set: run eng/test-docker.sh start.");
        }

        Skip.If(missing, "No test Docker Engine and registry: eval \"$(bash eng/test-docker.sh start /tmp/orch-docker)\" first.");
    }
}

/// <summary>One service and one agent on the test engine, with capability detection on.</summary>
public sealed class DockerFixture : IAsyncLifetime
{
    public AgentWorld World { get; private set; } = null!;
    public RunningAgent Agent { get; private set; } = null!;
    public Guid AgentId { get; private set; }
    public DockerClient Engine { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (TestDocker.Host is null)
        {
            return;
        }

        World = await AgentWorld.StartAsync(DatabaseProvider.Sqlite);
        Engine = new DockerClientBuilder().WithEndpoint(new Uri(TestDocker.Host)).Build();
        Agent = RunningAgent.Start(World.Settings(TempDirectories.New(), await World.TokenFileAsync(), s => s with
        {
            DockerHost = TestDocker.Host,
            DetectCapabilities = true,
            MaxTasks = 4,
        }));
        AgentId = await Agent.StartedAsync();
    }

    public async Task DisposeAsync()
    {
        if (TestDocker.Host is null)
        {
            return;
        }

        await Agent.DisposeAsync();
        await World.DisposeAsync();
        Engine.Dispose();
    }
}
