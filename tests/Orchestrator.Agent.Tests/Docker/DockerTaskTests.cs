using Docker.DotNet.Models;
using Orchestrator.Contracts;

namespace Orchestrator.Agent.Tests.Docker;

/// <summary>Docker tasks against a real Docker Engine and a real registry with authentication, without the internet.</summary>
public sealed class DockerTaskTests(DockerFixture fixture) : IClassFixture<DockerFixture>
{
    private Support.AgentWorld World => fixture.World;

    private Dictionary<string, string> RegistryCredentials(string? password = null) => new()
    {
        ["registry.username"] = TestDocker.RegistryUser!,
        ["registry.password"] = password ?? TestDocker.RegistryPassword!,
    };

    [SkippableFact]
    public async Task The_agent_detects_the_engine_and_the_compose_cli_as_capabilities()
    {
        TestDocker.Require();

        var deadline = DateTime.UtcNow.AddSeconds(20);
        AgentDetails details;
        do
        {
            details = await World.Operators.Agents.GetAsync(fixture.AgentId);
            await Task.Delay(100);
        }
        while (!details.Capabilities.Contains("compose") && DateTime.UtcNow < deadline);

        Assert.Contains("docker", details.Capabilities);
        Assert.True(details.Capabilities.Contains("compose"), fixture.Agent.Logs.ToString());
    }

    [SkippableFact]
    public async Task Pull_uses_the_tasks_registry_credentials_and_reports_the_image_id_and_digest()
    {
        TestDocker.Require();
        var tag = $"{Guid.NewGuid():N}"[..8];
        await RetagInRegistryAsync(tag);

        var task = await World.CreateTaskAsync(fixture.AgentId, "docker.pull", new { image = TestDocker.RegistryImage, tag }, RegistryCredentials());
        var ended = await World.EndedAsync(task.TaskId, TimeSpan.FromSeconds(60));

        Assert.Equal(AgentTaskStatus.Succeeded, ended.Status);
        var imageId = ended.Result!.Value.GetProperty("imageId").GetString()!;
        Assert.StartsWith("sha256:", imageId, StringComparison.Ordinal);
        Assert.StartsWith("sha256:", ended.Result!.Value.GetProperty("digest").GetString(), StringComparison.Ordinal);
        var onEngine = await fixture.Engine.Images.InspectImageAsync($"{TestDocker.RegistryImage}:{tag}");
        Assert.Equal(imageId, onEngine.ID);
    }

    [SkippableFact]
    public async Task Pull_with_a_wrong_password_fails_saying_so_without_echoing_the_password()
    {
        TestDocker.Require();
        const string wrong = "not-the-password-4711";

        var task = await World.CreateTaskAsync(fixture.AgentId, "docker.pull", new { image = TestDocker.RegistryImage, tag = "1" }, RegistryCredentials(wrong));
        var ended = await World.EndedAsync(task.TaskId, TimeSpan.FromSeconds(60));

        Assert.Equal(AgentTaskStatus.Failed, ended.Status);
        var error = ended.Result!.Value.GetProperty("error").GetString()!;
        Assert.Contains("refused the credentials", error, StringComparison.Ordinal);
        var everything = error + string.Join('\n', ended.Logs!.Select(l => l.Message)) + fixture.Agent.Logs;
        Assert.DoesNotContain(wrong, everything, StringComparison.Ordinal);
        Assert.DoesNotContain(TestDocker.RegistryPassword!, everything, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Run_attached_streams_the_output_and_succeeds_only_on_exit_code_zero()
    {
        TestDocker.Require();

        var ok = await World.CreateTaskAsync(fixture.AgentId, "docker.run", new
        {
            image = TestDocker.Image, detach = false, pull = "never", command = new[] { "sh", "-c", "echo hello from $WHO; echo warn >&2" },
            env = new { WHO = "busybox" },
        });
        var bad = await World.CreateTaskAsync(fixture.AgentId, "docker.run", new
        {
            image = TestDocker.Image, detach = false, pull = "never", command = new[] { "sh", "-c", "exit 7" },
        });
        var succeeded = await World.EndedAsync(ok.TaskId, TimeSpan.FromSeconds(60));
        var failed = await World.EndedAsync(bad.TaskId, TimeSpan.FromSeconds(60));

        Assert.True(succeeded.Status == AgentTaskStatus.Succeeded, succeeded.Result?.GetRawText());
        Assert.Contains(succeeded.Logs!, l => l.Message == "hello from busybox");
        Assert.Contains(succeeded.Logs!, l => l.Message == "warn" && l.Level == "error");
        Assert.Equal(0, succeeded.Result!.Value.GetProperty("exitCode").GetInt32());
        Assert.Equal(AgentTaskStatus.Failed, failed.Status);
        Assert.Equal(7, failed.Result!.Value.GetProperty("exitCode").GetInt32());
        Assert.Equal("The container exited with code 7.", failed.StatusReason);
        foreach (var ended in new[] { succeeded, failed })
        {
            // An attached run cleans up after itself, as `docker run --rm` does.
            Assert.True(ended.Result!.Value.GetProperty("removed").GetBoolean());
            var containers = await fixture.Engine.Containers.ListContainersAsync(new ContainersListParameters { All = true });
            Assert.DoesNotContain(containers, c => c.ID == ended.Result!.Value.GetProperty("containerId").GetString());
        }
    }

    [SkippableFact]
    public async Task Run_detached_starts_the_container_and_stop_with_remove_takes_it_away()
    {
        TestDocker.Require();
        var name = $"orch-{Guid.NewGuid():N}"[..16];

        var run = await World.CreateTaskAsync(fixture.AgentId, "docker.run", new
        {
            image = TestDocker.Image, name, pull = "missing", command = new[] { "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done" },
            labels = new { app = "demo" },
        });
        var started = await World.EndedAsync(run.TaskId, TimeSpan.FromSeconds(60));
        Assert.True(started.Status == AgentTaskStatus.Succeeded, started.Result?.GetRawText());
        var containerId = started.Result!.Value.GetProperty("containerId").GetString()!;
        var running = await fixture.Engine.Containers.InspectContainerAsync(containerId);
        var stop = await World.CreateTaskAsync(fixture.AgentId, "docker.stop", new { container = name, timeoutSeconds = 5, remove = true });
        var stopped = await World.EndedAsync(stop.TaskId, TimeSpan.FromSeconds(60));

        Assert.Equal(AgentTaskStatus.Succeeded, started.Status);
        Assert.True(running.State!.Running);
        Assert.Equal("demo", running.Config!.Labels!["app"]);
        Assert.Equal(run.TaskId.ToString(), running.Config.Labels!["orchestrator.task-id"]);
        Assert.Equal(AgentTaskStatus.Succeeded, stopped.Status);
        var left = await fixture.Engine.Containers.ListContainersAsync(new ContainersListParameters { All = true });
        Assert.DoesNotContain(left, c => c.ID == containerId);
    }

    [SkippableFact]
    public async Task Run_with_replace_takes_the_place_of_the_container_of_that_name_and_without_it_the_name_is_a_conflict()
    {
        TestDocker.Require();
        var name = $"orch-{Guid.NewGuid():N}"[..16];
        object Version(string version, bool replace) => new
        {
            image = TestDocker.Image, name, replace, command = new[] { "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done" },
            labels = new { version },
        };

        var first = await World.EndedAsync((await World.CreateTaskAsync(fixture.AgentId, "docker.run", Version("1", replace: true))).TaskId,
            TimeSpan.FromSeconds(60));
        var conflict = await World.EndedAsync((await World.CreateTaskAsync(fixture.AgentId, "docker.run", Version("2", replace: false))).TaskId,
            TimeSpan.FromSeconds(60));
        var second = await World.EndedAsync((await World.CreateTaskAsync(fixture.AgentId, "docker.run", Version("2", replace: true))).TaskId,
            TimeSpan.FromSeconds(60));

        Assert.True(first.Status == AgentTaskStatus.Succeeded, first.Result?.GetRawText());
        Assert.False(first.Result!.Value.TryGetProperty("replaced", out _));
        Assert.Equal(AgentTaskStatus.Failed, conflict.Status);
        Assert.Contains("Could not start a container", conflict.StatusReason, StringComparison.Ordinal);
        Assert.True(second.Status == AgentTaskStatus.Succeeded, second.Result?.GetRawText());
        Assert.Equal(first.Result!.Value.GetProperty("containerId").GetString(), second.Result!.Value.GetProperty("replaced").GetString());
        var named = await fixture.Engine.Containers.InspectContainerAsync(name);
        Assert.Equal("2", named.Config!.Labels!["version"]);
        Assert.True(named.State!.Running);
        await fixture.Engine.Containers.RemoveContainerAsync(named.ID, new ContainerRemoveParameters { Force = true });
    }

    [SkippableFact]
    public async Task Cancelling_an_attached_run_stops_its_container_and_ends_the_task_cancelled()
    {
        TestDocker.Require();

        var task = await World.CreateTaskAsync(fixture.AgentId, "docker.run", new
        {
            image = TestDocker.Image, detach = false, pull = "never",
            command = new[] { "sh", "-c", "echo up; trap 'echo bye; exit 0' TERM; while true; do sleep 0.2; done" },
        });
        var containerId = await RunningContainerOfAsync(task.TaskId);

        await World.Operators.Tasks.CancelAsync(task.TaskId);
        var ended = await World.EndedAsync(task.TaskId, TimeSpan.FromSeconds(30));

        Assert.Equal(AgentTaskStatus.Cancelled, ended.Status);
        // Stopped, and then removed as every attached run's container is.
        var containers = await fixture.Engine.Containers.ListContainersAsync(new ContainersListParameters { All = true });
        Assert.DoesNotContain(containers, c => c.ID == containerId && c.State == "running");
    }

    [SkippableFact]
    public async Task Compose_up_starts_the_project_and_compose_down_removes_it()
    {
        TestDocker.Require();
        var project = $"p{Guid.NewGuid():N}"[..12];
        var compose = $"""
            version: "2.4"
            services:
              web:
                image: {TestDocker.Image}
                command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
                network_mode: none
                environment:
                  GREETING: ${"{"}GREETING{"}"}
            """;

        var up = await World.CreateTaskAsync(fixture.AgentId, "compose.up", new { project, compose, env = new { GREETING = "hi" } });
        var upEnded = await World.EndedAsync(up.TaskId, TimeSpan.FromSeconds(90));
        Assert.True(upEnded.Status == AgentTaskStatus.Succeeded, $"{upEnded.StatusReason}\n{string.Join('\n', upEnded.Logs!.Select(l => l.Message))}");
        var projectFilter = new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"com.docker.compose.project={project}"] = true } },
        };
        var running = await fixture.Engine.Containers.ListContainersAsync(projectFilter);
        var inspected = await fixture.Engine.Containers.InspectContainerAsync(Assert.Single(running).ID);
        var down = await World.CreateTaskAsync(fixture.AgentId, "compose.down", new { project, compose });
        var downEnded = await World.EndedAsync(down.TaskId, TimeSpan.FromSeconds(90));

        Assert.Contains("GREETING=hi", inspected.Config!.Env!);
        Assert.Equal(AgentTaskStatus.Succeeded, downEnded.Status);
        Assert.Empty(await fixture.Engine.Containers.ListContainersAsync(projectFilter));
    }

    /// <summary>The id of the task's container once the engine runs it (it carries the task id as a label).</summary>
    private async Task<string> RunningContainerOfAsync(Guid taskId)
    {
        var filter = new ContainersListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"orchestrator.task-id={taskId}"] = true } },
        };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if ((await fixture.Engine.Containers.ListContainersAsync(filter)).FirstOrDefault() is { } running)
            {
                return running.ID;
            }

            Assert.True(DateTime.UtcNow < deadline, $"No container of task {taskId} runs.");
            await Task.Delay(50);
        }
    }

    /// <summary>A fresh tag in the registry for the same image, so each pull really fetches (the engine has not seen it).</summary>
    private static async Task RetagInRegistryAsync(string tag)
    {
        // The registry's image is there as tag 1; pushing needs login, which the engine must not keep. The test uses the
        // engine's API with explicit credentials instead, so nothing is stored.
        using var engine = new global::Docker.DotNet.DockerClientBuilder().WithEndpoint(new Uri(TestDocker.Host!)).Build();
        var auth = new AuthConfig { Username = TestDocker.RegistryUser, Password = TestDocker.RegistryPassword, ServerAddress = TestDocker.RegistryImage!.Split('/')[0] };
        await engine.Images.TagImageAsync(TestDocker.Image, new ImageTagParameters { RepositoryName = TestDocker.RegistryImage, Tag = tag });
        await engine.Images.PushImageAsync($"{TestDocker.RegistryImage}:{tag}", new ImagePushParameters { Tag = tag }, auth, new Progress<JSONMessage>());
        await engine.Images.DeleteImageAsync($"{TestDocker.RegistryImage}:{tag}", new ImageDeleteParameters());
    }
}
