using System.Diagnostics;
using System.Net;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Foundation;

/// <summary>The way back in when no admin key works: the published binary's <c>reset-admin-key</c> verb, run as an
/// operator would run it, against the storage of a running service.</summary>
public sealed class ResetAdminKeyTests
{
    [SkippableTheory, BothProviders]
    public async Task Reset_admin_key_writes_a_working_admin_key_to_an_owner_only_file_and_audits_it(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);

        var (exitCode, output) = await RunAsync(app.Storage, "reset-admin-key");

        Assert.True(exitCode == 0, output);
        var file = Path.Combine(app.Storage.DataDirectory, "admin-api-key");
        Assert.Contains(file, output);
        var key = (await File.ReadAllTextAsync(file)).Trim();
        Assert.StartsWith("ork_", key);
        Assert.DoesNotContain(key, output);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }

        var keys = await (await app.Client(key).GetAsync("/api/v1/api-keys")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(2, keys.EnumerateArray().Count(k => k.GetProperty("role").GetString() == "admin"));
        var audit = await (await app.Client(key).GetAsync("/api/v1/audit?action=apikey.reset")).ShouldBe(HttpStatusCode.OK);
        var entry = Assert.Single(audit.EnumerateArray());
        Assert.Equal("system:reset-admin-key", entry.GetProperty("actor").GetString());
        Assert.Equal(Environment.UserName, entry.GetProperty("details").GetProperty("osUser").GetString());
        Assert.DoesNotContain(key, app.Logs.AllText);
    }

    /// <summary>Runs the service's own binary with the test storage's settings, as environment variables.</summary>
    private static async Task<(int ExitCode, string Output)> RunAsync(TestStorage storage, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet", [typeof(Program).Assembly.Location, .. arguments])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["Orchestrator__DataDirectory"] = storage.DataDirectory;
        start.Environment["Orchestrator__Database__Provider"] = storage.Provider.ToString();
        start.Environment["ConnectionStrings__Orchestrator"] = storage.ConnectionString ?? "";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }
}
