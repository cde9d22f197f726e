using System.CommandLine;
using Microsoft.Extensions.Configuration;

namespace Orchestrator.Agent.Tests.Unit;

/// <summary><c>run</c>'s flags and <c>OrchestratorAgent__*</c> settings as docs/agent.md and DESIGN.md name them.</summary>
public sealed class CommandLineTests
{
    private const string Fingerprint = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("--token", "t", "--token-file", "FILE")]
    [InlineData("--ca-file", "ca.pem", "--ca-fingerprint", Fingerprint)]
    public void Two_alternative_flags_together_are_a_usage_error(string first, string firstValue, string second, string secondValue)
    {
        var refused = Assert.Throws<AgentExitException>(() => Read([first, firstValue, second, secondValue]));

        Assert.Equal(ExitCodes.Usage, refused.ExitCode);
        Assert.Contains("not both", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_alternative_settings_together_are_a_usage_error()
    {
        var refused = Assert.Throws<AgentExitException>(() => Read([], new()
        {
            ["OrchestratorAgent:CaFile"] = "ca.pem",
            ["OrchestratorAgent:CaFingerprint"] = Fingerprint,
        }));

        Assert.Equal(ExitCodes.Usage, refused.ExitCode);
    }

    [Fact]
    public void A_flag_wins_over_the_setting_of_its_alternative()
    {
        var settings = Read(["--token", "from-flag", "--ca-fingerprint", Fingerprint], new()
        {
            ["OrchestratorAgent:TokenFile"] = "/nonexistent/token",
            ["OrchestratorAgent:CaFile"] = "ca.pem",
        });

        Assert.Equal("from-flag", settings.Token);
        Assert.Null(settings.CaFile);
        Assert.Equal(Fingerprint, settings.CaFingerprint);
    }

    [Fact]
    public void The_flags_also_come_from_settings()
    {
        var tokenFile = Path.Combine(Support.TempDirectories.New(), "token");
        File.WriteAllText(tokenFile, "tok-from-file\n");

        var settings = Read([], new()
        {
            ["OrchestratorAgent:TokenFile"] = tokenFile,
            ["OrchestratorAgent:CaFile"] = "ca.pem",
            ["OrchestratorAgent:Name"] = "web-1",
            ["OrchestratorAgent:Label"] = "zone=eu-1,tier=web",
            ["OrchestratorAgent:Capability:0"] = "ssh",
            ["OrchestratorAgent:MaxTasks"] = "5",
            ["OrchestratorAgent:DockerHost"] = "unix:///run/docker.sock",
            ["OrchestratorAgent:AllowShell"] = "true",
        });

        Assert.Equal("tok-from-file", settings.Token);
        Assert.Equal("ca.pem", settings.CaFile);
        Assert.Equal("web-1", settings.Name);
        Assert.Equal(new Dictionary<string, string> { ["zone"] = "eu-1", ["tier"] = "web" }, settings.Labels);
        Assert.Equal(["ssh"], settings.Capabilities);
        Assert.Equal(5, settings.MaxTasks);
        Assert.Equal("unix:///run/docker.sock", settings.DockerHost);
        Assert.True(settings.AllowShell);
    }

    private static AgentSettings Read(string[] arguments, Dictionary<string, string?>? configuration = null)
    {
        var flags = new CommandLine();
        var run = new Command("run");
        foreach (var option in flags.RunOptions)
        {
            run.Options.Add(option);
        }

        var parsed = run.Parse(["--server", "https://orchestrator.example:8443", "--state-dir", "/tmp/unused", .. arguments]);
        Assert.Empty(parsed.Errors);
        return flags.Read(parsed, new ConfigurationBuilder().AddInMemoryCollection(configuration ?? []).Build());
    }
}
