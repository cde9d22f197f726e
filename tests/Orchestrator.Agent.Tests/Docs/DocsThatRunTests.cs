using System.Diagnostics;
using System.Reflection;
using Docker.DotNet;
using Docker.DotNet.Models;
using Orchestrator.Agent.Tests.Docker;
using Orchestrator.Agent.Tests.Support;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Xunit.Abstractions;

namespace Orchestrator.Agent.Tests.Docs;

/// <summary>What a reader of the docs has: the service over real TLS, its CA file and an admin key in the README's
/// variables, the CLI and the agent on PATH, a Docker Engine (with <c>busybox</c> on it, as on a machine that pulled it),
/// a registry with credentials, and a small fleet: two Docker agents labelled <c>role=web</c>,
/// <c>datacenter=us-east-1</c> (the docs' example fleet) and one agent to spare (<c>role=spare</c>, which
/// docs/operations.md drains and deletes).</summary>
public sealed class DocsWorld : IAsyncLifetime
{
    private readonly List<RunningAgent> _agents = [];

    public AgentWorld World { get; private set; } = null!;
    public Dictionary<string, string> Environment { get; } = [];

    private static string CliDll => typeof(DocsWorld).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "CliDll").Value!;

    public async Task InitializeAsync()
    {
        if (TestDocker.Host is null)
        {
            return;
        }

        World = await AgentWorld.StartAsync(DatabaseProvider.Sqlite);
        using (var engine = new DockerClientBuilder().WithEndpoint(new Uri(TestDocker.Host)).Build())
        {
            await engine.Images.TagImageAsync(TestDocker.Image, new ImageTagParameters { RepositoryName = "busybox", Tag = "latest" });
        }

        foreach (var (name, labels) in new[]
        {
            ("web-1", new Dictionary<string, string> { ["role"] = "web", ["datacenter"] = "us-east-1" }),
            ("web-2", new Dictionary<string, string> { ["role"] = "web", ["datacenter"] = "us-east-1" }),
            ("spare-1", new Dictionary<string, string> { ["role"] = "spare" }),
        })
        {
            var agent = RunningAgent.Start(World.Settings(TempDirectories.New(), await World.TokenFileAsync(), s => s with
            {
                Name = name,
                Labels = labels,
                DockerHost = TestDocker.Host,
                DetectCapabilities = name.StartsWith("web", StringComparison.Ordinal),
            }));
            _agents.Add(agent);
            await agent.StartedAsync();
        }

        var tools = TempDirectories.New();
        InstalledTools.Write(tools, "orchestrator", CliDll);
        InstalledTools.Write(tools, "orchestrator-agent", Path.Combine(AppContext.BaseDirectory, "Orchestrator.Agent.dll"));
        var registryToken = Path.Combine(TempDirectories.New(), "registry-token");
        await File.WriteAllTextAsync(registryToken, TestDocker.RegistryPassword + "\n");
        Environment["PATH"] = tools + Path.PathSeparator + System.Environment.GetEnvironmentVariable("PATH");
        Environment["ORCHESTRATOR_URL"] = World.App.BaseAddress.ToString().TrimEnd('/');
        Environment["ORCHESTRATOR_API_KEY"] = TestApp.AdminKey;
        Environment["ORCHESTRATOR_CA_FILE"] = World.CaFile;
        Environment["DOCKER_HOST"] = TestDocker.Host;
        Environment["CI_PIPELINE_ID"] = $"docs-{Guid.NewGuid():N}"[..13];
        Environment["IMAGE"] = TestDocker.RegistryImage!;
        Environment["TAG"] = "1";
        Environment["REGISTRY_USER"] = TestDocker.RegistryUser!;
        Environment["REGISTRY_TOKEN_FILE"] = registryToken;
    }

    public async Task DisposeAsync()
    {
        if (TestDocker.Host is null)
        {
            return;
        }

        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }

        await World.DisposeAsync();
        // What the docs' deployments left on the engine: their containers, and the busybox name given above.
        using var engine = new DockerClientBuilder().WithEndpoint(new Uri(TestDocker.Host)).Build();
        var left = await engine.Containers.ListContainersAsync(new ContainersListParameters { All = true });
        foreach (var container in left.Where(c => c.Names.Contains("/myapp")))
        {
            await engine.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true });
        }

        await engine.Images.DeleteImageAsync("busybox:latest", new ImageDeleteParameters());
    }
}

/// <summary>Docs that run: every shell example of README.md and docs/, run by <c>eng/docs-run.sh</c> as a reader would
/// paste it, page by page, against a real service, real agents and a real Docker Engine and registry. A page passes when
/// every one of its examples succeeds (they stop at the first error: <c>set -euo pipefail</c>, <c>--fail-with-body</c>,
/// <c>jq -e</c>, the CLI's exit codes); a block is left out only where the page says why.</summary>
[Collection(DocsFirst.Name)]
public sealed class DocsThatRunTests(DocsWorld docs, ITestOutputHelper output) : IClassFixture<DocsWorld>
{
    // Each page stands on its own against the shared world: xunit runs these rows in an order of its own (security,
    // rollouts, README, agents, operations, tasks, cli in CI), so pages after docs/agents.md meet a rotated CA and pages
    // after docs/operations.md a fleet without spare-1, and pass; a page must not lean on another having run first.
    private static readonly string[] PageOrder =
        ["README.md", "docs/tasks.md", "docs/rollouts.md", "docs/cli.md", "docs/security.md", "docs/operations.md", "docs/agents.md"];

    public static TheoryData<string> Pages => new(PageOrder);

    [SkippableTheory]
    [MemberData(nameof(Pages))]
    public async Task The_shell_examples_of_the_page_run_as_written(string page)
    {
        TestDocker.Require();
        var run = new ProcessStartInfo("bash", ["eng/docs-run.sh", page])
        {
            WorkingDirectory = Repository.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in docs.Environment)
        {
            run.Environment[key] = value;
        }

        using var process = Process.Start(run)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(6));
        output.WriteLine(await stdout);
        output.WriteLine(await stderr);

        Assert.True(process.ExitCode == 0, $"{page}: an example failed (exit {process.ExitCode}):\n{await stderr}\n{await stdout}");
    }

    [Fact]
    public void Every_page_with_shell_examples_is_run()
    {
        var pages = Directory.EnumerateFiles(Path.Combine(Repository.Root, "docs"), "*.md").Append(Path.Combine(Repository.Root, "README.md"))
            .Where(p => HasRunnableBlock(File.ReadAllLines(p)))
            .Select(p => Path.GetRelativePath(Repository.Root, p).Replace('\\', '/'));

        Assert.Empty(pages.Except(PageOrder));
    }

    private static bool HasRunnableBlock(string[] lines) =>
        Enumerable.Range(0, lines.Length).Any(i => lines[i] == "```bash" && (i == 0 || !lines[i - 1].StartsWith("<!-- docs-run: skip", StringComparison.Ordinal)));
}

/// <summary>The docs' pages run one after another in one world, about two minutes in CI, far longer than any other
/// class here: they start first (<see cref="StartOrderer"/>) instead of wherever xunit's random order puts them.
/// In fifty CI runs their first page began 17-62 s into the project and they ran on alone for 40-80 s after every other
/// class had ended, the heavy classes (<see cref="HeavyLast"/>) only after them: the agent tests ended last.</summary>
[CollectionDefinition(Name)]
[StartsFirst]
public sealed class DocsFirst
{
    public const string Name = "docs that run (starts first)";
}
