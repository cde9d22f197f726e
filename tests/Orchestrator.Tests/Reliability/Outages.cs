using System.Net;
using Microsoft.Data.Sqlite;
using Orchestrator.Testing;
using Orchestrator.Tests.Tasks;

namespace Orchestrator.Tests.Reliability;

/// <summary>What the outage tests share: the database taken away underneath the service, and the answer every caller
/// must then get.</summary>
internal static class Outages
{
    /// <summary>The heartbeat body of a healthy agent.</summary>
    public static readonly object Healthy = new { status = "healthy", resourceUsage = new { cpu = 10.0, memory = 20.0, disk = 30.0 } };

    /// <summary>A noop task for the agent, created before the database goes away.</summary>
    public static async Task<Guid> CreateTaskAsync(TestApp app, TestAgent agent) =>
        (await app.CreateTaskAsync(new { taskType = "agent.noop", agentId = agent.Id })).GetProperty("taskId").GetGuid();

    /// <summary>The SQLite file the service uses in this storage.</summary>
    public static string SqliteFile(TestStorage storage) => Path.Combine(storage.DataDirectory, "orchestrator.db");

    /// <summary>The answer to a call the database was needed for and could not serve: 503 problem details with a
    /// Retry-After of a few seconds, never a 500.</summary>
    public static async Task ShouldBeUnavailableAsync(this HttpResponseMessage response, string call)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{call}: expected 503 but got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var retryAfter = response.Headers.RetryAfter?.Delta;
        Assert.True(retryAfter is { TotalSeconds: >= 2 and <= 8 }, $"{call}: Retry-After was {retryAfter}");
    }

    /// <summary>Another process holding the SQLite file's write lock (as a backup tool or a stuck writer would):
    /// readers carry on, every writer waits out its busy timeout.</summary>
    public sealed class SqliteWriteLock : IDisposable
    {
        private readonly SqliteConnection _connection;

        public SqliteWriteLock(TestStorage storage)
        {
            _connection = new SqliteConnection($"Data Source={SqliteFile(storage)};Pooling=False");
            _connection.Open();
            using var command = _connection.CreateCommand();
            command.CommandText = "BEGIN IMMEDIATE;";
            command.ExecuteNonQuery();
        }

        public void Dispose()
        {
            using (var command = _connection.CreateCommand())
            {
                command.CommandText = "ROLLBACK;";
                command.ExecuteNonQuery();
            }

            _connection.Dispose();
        }
    }
}
