using System.Diagnostics;
using System.Runtime.InteropServices;
using Docker.DotNet;
using Orchestrator.Agent.Tests.Support;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.Docker;

/// <summary>A rollout of <c>docker.run</c> through reference agents on real Docker Engines. Six agents and a second engine
/// make it heavy: it runs after the other classes but the docs pages (<see cref="HeavyLast"/>).</summary>
[Collection(HeavyLast.Name)]
public sealed class DockerRolloutTests
{
    [SkippableFact]
    public async Task A_rollout_stops_at_the_agent_whose_engine_lacks_the_image_and_the_rest_never_start()
    {
        TestDocker.Require();
        await HeavyLast.WaitForTheOthersAsync(GetType());
        // Five agents run on the test engine, which has the image; the third in name order runs on an engine of its own
        // that has never seen it (a host that missed the image's distribution).
        await using var bare = await BareEngine.StartAsync();
        await using var world = await AgentWorld.StartAsync(DatabaseProvider.Sqlite);
        var fleet = SharedApps.Unique("docker");
        var agents = new List<RunningAgent>();
        try
        {
            for (var i = 0; i < 6; i++)
            {
                var index = i;
                agents.Add(RunningAgent.Start(world.Settings(TempDirectories.New(), await world.TokenFileAsync(), s => s with
                {
                    Name = $"{fleet}-{index}",
                    Labels = new Dictionary<string, string> { ["fleet"] = fleet },
                    Capabilities = ["docker"],
                    DockerHost = index == 2 ? bare.Host : TestDocker.Host!,
                })));
            }

            foreach (var agent in agents)
            {
                await agent.StartedAsync();
            }

            var payload = System.Text.Json.JsonSerializer.SerializeToElement(
                new { image = TestDocker.Image, command = new[] { "true" }, detach = false, pull = "never" });
            var created = await world.Operators.Rollouts.CreateAsync(new CreateRolloutRequest("busybox true", "docker.run", payload, null, null, 60,
                new TaskSelector(null, new() { ["fleet"] = fleet }), null, new RolloutStrategy(2, null, 0, null, null, null), null));
            var done = await world.Operators.Rollouts.WaitAsync(created.RolloutId, TimeSpan.FromSeconds(120));

            Assert.Equal(RolloutStatus.Failed, done.Status);
            Assert.Equal(
                [RolloutTargetStatus.Succeeded, RolloutTargetStatus.Succeeded, RolloutTargetStatus.Failed, RolloutTargetStatus.Succeeded,
                    RolloutTargetStatus.NotStarted, RolloutTargetStatus.NotStarted],
                done.Targets!.Select(t => t.Status));
            Assert.Equal((6, 3, 1, 2), (done.Counts.Total, done.Counts.Succeeded, done.Counts.Failed, done.Counts.NotStarted));
            Assert.Equal(done.Counts.Total, done.Counts.Pending + done.Counts.Running + done.Counts.Succeeded + done.Counts.Failed +
                done.Counts.Skipped + done.Counts.Cancelled + done.Counts.NotStarted);
            Assert.Contains("No such image", done.Targets![2].StatusReason, StringComparison.OrdinalIgnoreCase);
            var tasks = await world.Operators.Tasks.ListAllByRolloutAsync(created.RolloutId).ToListAsync();
            Assert.Equal(4, tasks.Count);
            Assert.All(tasks.Where(t => t.Status == AgentTaskStatus.Succeeded),
                t => Assert.Equal(0, t.Result!.Value.GetProperty("exitCode").GetInt32()));
        }
        finally
        {
            foreach (var agent in agents)
            {
                await agent.DisposeAsync();
            }
        }
    }

    /// <summary>A second Docker Engine with no image at all, on sockets and directories of its own, started as
    /// eng/test-docker.sh starts the test engine and stopped by its PID (SIGTERM, so it stops its containerd too).</summary>
    private sealed class BareEngine : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly string _directory;

        private BareEngine(Process process, string directory)
        {
            _process = process;
            _directory = directory;
        }

        public string Host => $"unix://{_directory}/docker.sock";

        public static async Task<BareEngine> StartAsync()
        {
            var directory = Directory.CreateTempSubdirectory("orch-dk-").FullName;
            var start = new ProcessStartInfo("dockerd",
            [
                "--storage-driver=vfs", "--iptables=false", "--ip6tables=false", "--bridge=none", "--data-root", $"{directory}/root",
                "--exec-root", $"{directory}/exec", "-H", $"unix://{directory}/docker.sock", "--pidfile", $"{directory}/dockerd.pid",
            ])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            var engine = new BareEngine(Process.Start(start)!, directory);
            engine._process.OutputDataReceived += (_, _) => { };
            engine._process.ErrorDataReceived += (_, _) => { };
            engine._process.BeginOutputReadLine();
            engine._process.BeginErrorReadLine();
            using var client = new DockerClientBuilder().WithEndpoint(new Uri(engine.Host)).Build();
            await Poll.Until(async () =>
            {
                Assert.False(engine._process.HasExited, "The second Docker Engine exited at start.");
                try
                {
                    await client.System.PingAsync();
                    return true;
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException or DockerApiException or TimeoutException)
                {
                    return false;
                }
            }, "a second Docker Engine to answer", TimeSpan.FromSeconds(60));
            return engine;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _ = Kill(_process.Id, 15);
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            }

            _process.Dispose();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // vfs layers the engine made may outlive a quick delete; the directory is in the temp folder.
            }
        }

        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static extern int Kill(int pid, int signal);
    }
}
