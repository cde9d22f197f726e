using System.Net;
using System.Runtime.Versioning;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Foundation;

/// <summary>Issue 28's hardening: the SQLite files are readable by the service's user only, and so is a data directory
/// the service creates. Unix file modes: the service's platform.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class FileModeTests
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [SkippableFact]
    public async Task A_data_directory_the_service_creates_is_0700_and_its_sqlite_files_0600()
    {
        using var storage = await TestStorage.CreateEmptyAsync(DatabaseProvider.Sqlite);
        var fresh = Path.Combine(storage.DataDirectory, "fresh", "data");

        await using var app = TestApp.StartOn(storage, settings: new Dictionary<string, string?> { ["Orchestrator:DataDirectory"] = fresh });
        await app.RegisterAgentAsync();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(fresh));
        var database = Path.Combine(fresh, "orchestrator.db");
        Assert.True(File.Exists($"{database}-wal"), "The database is not in WAL mode: the test would not see its -wal file.");
        foreach (var file in new[] { database, $"{database}-wal", $"{database}-shm" })
        {
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(file));
        }
    }

    [SkippableFact]
    public async Task An_existing_sqlite_file_readable_by_others_is_tightened_at_start()
    {
        using var storage = await TestStorage.CreateAsync(DatabaseProvider.Sqlite);
        var database = Path.Combine(storage.DataDirectory, "orchestrator.db");
        File.SetUnixFileMode(database, OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        await using var app = TestApp.StartOn(storage);

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(database));
        await (await app.AdminClient().GetAsync("/api/v1/agents")).ShouldBe(HttpStatusCode.OK);
    }
}
