using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Tests.Rollouts;

namespace Orchestrator.Tests.Reliability;

/// <summary>Two replicas on one PostgreSQL: the one driving a rollout is killed with SIGKILL in the middle of a batch,
/// and the other carries the rollout on, without starting a batch twice or giving an agent a second task.</summary>
public sealed class RolloutFailoverTests
{
    [SkippableFact]
    public async Task Killing_the_replica_that_drives_a_rollout_leaves_it_to_the_other_replica()
    {
        using var storage = await TestStorage.CreateAsync(DatabaseProvider.Postgres);
        // While armed, this replica's driver cannot take a step (its row lock statement is held): until the other replica
        // is killed, every step of the rollout is that one's.
        var gate = new StatementGate(
            sql => sql.Contains("SKIP LOCKED", StringComparison.Ordinal) && sql.Contains("\"Rollouts\"", StringComparison.Ordinal),
            int.MaxValue, TimeSpan.FromMinutes(5));
        gate.Arm();
        await using var survivor = TestApp.StartOn(storage, services: s => s.AddSingleton<IInterceptor>(gate));
        var fleet = await survivor.FleetAsync(4);
        using var doomed = await ServiceProcess.StartAsync(storage);

        var id = (await survivor.CreateRolloutAsync(new { taskType = "agent.noop", selector = fleet.Selector, strategy = new { batchSize = 2 } }))
            .Id();
        var first = await survivor.BatchStartedAsync(id, 1, TimeSpan.FromSeconds(30));
        await fleet[0].FinishAsync(first.TaskOf(fleet[0]), success: true);
        await survivor.RolloutWhenAsync(id, r => r.StatusOf(fleet[0]) == "succeeded", "the first target succeeded, seen by the doomed replica");
        Assert.True(gate.Arrived > 0, "The surviving replica's driver never tried a step: the test would prove nothing.");
        doomed.Kill();

        gate.Disarm();
        await fleet[1].FinishAsync(first.TaskOf(fleet[1]), success: true);
        var second = await survivor.BatchStartedAsync(id, 2);
        await fleet[2].FinishAsync(second.TaskOf(fleet[2]), success: true);
        await fleet[3].FinishAsync(second.TaskOf(fleet[3]), success: true);
        var done = await survivor.StatusIsAsync(id, "succeeded");

        Assert.Equal(4, done.Count("succeeded"));
        var tasks = await survivor.TasksOfAsync(id);
        Assert.Equal(fleet.Agents.Select(a => a.Id).Order(), tasks.Select(t => t.GetProperty("agentId").GetGuid()).Order());
        Assert.Equal([1, 2], await survivor.BatchesStartedAsync(id));
    }

    /// <summary>The service's own binary as a second replica on the test's storage, as operators run it; killed with
    /// SIGKILL, it gets no chance to finish anything.</summary>
    private sealed class ServiceProcess : IDisposable
    {
        private readonly Process _process;
        private readonly List<string> _output = [];

        private ServiceProcess(Process process) => _process = process;

        public static async Task<ServiceProcess> StartAsync(TestStorage storage)
        {
            var port = FreePort();
            var start = new ProcessStartInfo("dotnet", [typeof(Program).Assembly.Location])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            start.Environment["ASPNETCORE_URLS"] = $"https://127.0.0.1:{port}";
            start.Environment["Orchestrator__DataDirectory"] = storage.DataDirectory;
            start.Environment["Orchestrator__Database__Provider"] = storage.Provider.ToString();
            start.Environment["ConnectionStrings__Orchestrator"] = storage.ConnectionString ?? "";
            start.Environment["Orchestrator__Auth__BootstrapAdminKey"] = TestApp.AdminKey;
            var service = new ServiceProcess(Process.Start(start)!);
            service._process.OutputDataReceived += (_, e) => service.Keep(e.Data);
            service._process.ErrorDataReceived += (_, e) => service.Keep(e.Data);
            service._process.BeginOutputReadLine();
            service._process.BeginErrorReadLine();

            using var client = new HttpClient(new SocketsHttpHandler
            {
                SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
            }) { BaseAddress = new Uri($"https://127.0.0.1:{port}") };
            await Poll.Until(async () =>
            {
                Assert.False(service._process.HasExited, $"The replica exited: {service.Output}");
                try
                {
                    return (await client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, "the second replica to be ready", TimeSpan.FromSeconds(60));
            return service;
        }

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return string.Join('\n', _output);
                }
            }
        }

        public void Kill()
        {
            _process.Kill();
            _process.WaitForExit();
        }

        private void Keep(string? line)
        {
            if (line is not null)
            {
                lock (_output)
                {
                    _output.Add(line);
                }
            }
        }

        private static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }

            _process.Dispose();
        }
    }
}
