using System.CommandLine;
using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;
using Orchestrator.Testing;

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
        var tokenFile = Path.Combine(TempDirectories.New(), "token");
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

    [Fact]
    public void The_docker_engine_is_found_as_dockers_own_cli_finds_it()
    {
        var home = TempDirectories.New();
        var config = Path.Combine(home, ".docker");
        // The CLI keeps a context's endpoint under contexts/meta/<sha256 of its name>/meta.json.
        var meta = Path.Combine(config, "contexts", "meta", Convert.ToHexStringLower(SHA256.HashData("remote"u8)));
        Directory.CreateDirectory(meta);
        File.WriteAllText(Path.Combine(meta, "meta.json"), """{"Name":"remote","Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2375"}}}""");
        File.WriteAllText(Path.Combine(config, "config.json"), """{"currentContext":"remote"}""");

        var flag = Read(["--docker-host", "unix:///flag.sock"], new() { ["DOCKER_HOST"] = "unix:///env.sock" });
        var environment = Read([], new() { ["DOCKER_HOST"] = "unix:///env.sock", ["HOME"] = home });
        var current = Read([], new() { ["HOME"] = home });
        var named = Read([], new() { ["HOME"] = home, ["DOCKER_CONTEXT"] = "default" });
        var nothing = Read([], new() { ["HOME"] = TempDirectories.New() });

        Assert.Equal(("unix:///flag.sock", "--docker-host"), (flag.DockerHost, flag.DockerHostSource));
        Assert.Equal(("unix:///env.sock", "DOCKER_HOST"), (environment.DockerHost, environment.DockerHostSource));
        Assert.Equal("tcp://10.0.0.5:2375", current.DockerHost);
        Assert.Contains("remote", current.DockerHostSource, StringComparison.Ordinal);
        Assert.Equal((AgentSettings.DefaultDockerHost, "default"), (named.DockerHost, named.DockerHostSource));
        Assert.Equal(AgentSettings.DefaultDockerHost, nothing.DockerHost);
    }

    [Fact]
    public void A_docker_host_that_is_not_a_url_is_a_usage_error_naming_where_it_came_from()
    {
        var refused = Assert.Throws<AgentExitException>(() => Read([], new() { ["DOCKER_HOST"] = "not a url" }));

        Assert.Contains("DOCKER_HOST", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--max-tasks", "0", "--max-tasks must be from 1 to 64")]
    [InlineData("--grace-period", "soon", "--grace-period must be seconds, or a number with s, m or h")]
    [InlineData("--shutdown-timeout", "-5", "--shutdown-timeout must be")]
    [InlineData("--log-level", "loud", "--log-level must be trace, debug")]
    [InlineData("--ca-fingerprint", "md5:00", "--ca-fingerprint:")]
    public void A_bad_flag_value_is_a_usage_error_naming_the_flag(string flag, string value, string message)
    {
        var refused = Assert.Throws<AgentExitException>(() => Read([flag, value]));

        Assert.Equal(ExitCodes.Usage, refused.ExitCode);
        Assert.Contains(message, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_problem_of_the_settings_is_told_at_once_and_a_setting_of_the_wrong_type_names_its_key()
    {
        var several = Assert.Throws<AgentExitException>(() => ReadOnly([], new()
        {
            ["OrchestratorAgent:Server"] = "http://orchestrator.example",
            ["OrchestratorAgent:GracePeriod"] = "later",
        }));
        var wrongType = Assert.Throws<AgentExitException>(() => Read([], new() { ["OrchestratorAgent:MaxTasks"] = "many" }));

        Assert.Contains("--server must be an https:// URL", several.Message, StringComparison.Ordinal);
        Assert.Contains("--state-dir is required", several.Message, StringComparison.Ordinal);
        Assert.Contains("--grace-period must be", several.Message, StringComparison.Ordinal);
        Assert.Contains("'OrchestratorAgent:MaxTasks'", wrongType.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("2m", 120)]
    [InlineData("15", 15)]
    [InlineData("00:01:30", 90)]
    public void Durations_take_the_syntax_the_cli_takes_and_hh_mm_ss(string text, int seconds)
    {
        var fromFlag = Read(["--grace-period", text]);
        var fromSetting = Read([], new() { ["OrchestratorAgent:ShutdownTimeout"] = text });

        Assert.Equal(TimeSpan.FromSeconds(seconds), fromFlag.GracePeriod);
        Assert.Equal(TimeSpan.FromSeconds(seconds), fromSetting.ShutdownTimeout);
    }

    [Fact]
    public void Labels_given_as_flags_replace_the_labels_setting()
    {
        var settings = Read(["--label", "zone=us-2"], new() { ["OrchestratorAgent:Label"] = "zone=eu-1,tier=web" });

        Assert.Equal(new Dictionary<string, string> { ["zone"] = "us-2" }, settings.Labels);
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

    /// <summary>As <see cref="Read"/>, without the server and state directory flags.</summary>
    private static AgentSettings ReadOnly(string[] arguments, Dictionary<string, string?> configuration)
    {
        var flags = new CommandLine();
        var run = new Command("run");
        foreach (var option in flags.RunOptions)
        {
            run.Options.Add(option);
        }

        return flags.Read(run.Parse(arguments), new ConfigurationBuilder().AddInMemoryCollection(configuration).Build());
    }
}
