using System.Net;
using Npgsql;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Reliability;

/// <summary>Defect 4 of issue 12: a reconnect herd exhausted a default PostgreSQL (100 connections): Npgsql's default
/// pool of 100 per replica, the LISTEN connection and a fresh connection per NOTIFY together took 95-99 of them, and
/// requests failed with 500 "53300: too many clients". A replica now holds at most its pool (30 by default), one
/// listening and one sending connection, so two replicas fit a default PostgreSQL with room to spare, and what the
/// pool cannot take is shed with 503 and Retry-After.</summary>
public sealed class ConnectionBudgetTests
{
    private const string ApplicationName = "orchestrator-budget";

    [SkippableFact]
    public async Task A_burst_of_requests_on_a_default_PostgreSQL_takes_at_most_the_default_pool_and_is_shed_with_503_never_500()
    {
        await using var cluster = await PostgresCluster.StartOrSkipAsync();
        using var storage = TestStorage.OnCluster(cluster);
        // The service's defaults, as an operator who gives only the server, user and database gets them.
        var server = new NpgsqlConnectionStringBuilder(cluster.AdminConnectionString);
        await using var app = TestApp.StartOn(storage, settings: new Dictionary<string, string?>
        {
            ["ConnectionStrings:Orchestrator"] =
                $"Host={server.Host};Port={server.Port};Username={server.Username};Database={server.Database};Application Name={ApplicationName}",
        });
        var admin = app.AdminClient();
        await (await admin.GetAsync("/api/v1/agents")).ShouldBe(HttpStatusCode.OK);

        // An operator's long transaction holds the agents table, so every listing holds a connection while it waits,
        // as a herd of slow requests would.
        await using var locker = new NpgsqlConnection(cluster.AdminConnectionString);
        await locker.OpenAsync();
        var transaction = await locker.BeginTransactionAsync();
        await using (var lockTable = new NpgsqlCommand("""LOCK TABLE "Agents" IN ACCESS EXCLUSIVE MODE""", locker, transaction))
        {
            await lockTable.ExecuteNonQueryAsync();
        }

        var calls = Enumerable.Range(0, 60).Select(_ => admin.GetAsync("/api/v1/agents")).ToList();
        var peak = 0;
        await Poll.Until(async () =>
        {
            peak = Math.Max(peak, await ServiceConnectionsAsync(cluster));
            return calls.Count(c => c.IsCompleted) >= 20;
        }, "the requests the pool could not take to be shed", TimeSpan.FromSeconds(40));
        await transaction.CommitAsync();
        var responses = await Task.WhenAll(calls);

        Assert.True(peak <= 32, $"The service held {peak} connections: its pool of 30, one listening and one sending at most.");
        Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable,
            $"A request was answered {(int)r.StatusCode}."));
        var shed = responses.Where(r => r.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.NotEmpty(shed);
        foreach (var response in shed)
        {
            await response.ShouldBeUnavailableAsync("a listing the pool could not take");
        }
    }

    private static async Task<int> ServiceConnectionsAsync(PostgresCluster cluster)
    {
        await using var connection = new NpgsqlConnection(cluster.AdminConnectionString);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE application_name = @name", connection);
        count.Parameters.AddWithValue("name", ApplicationName);
        return (int)(long)(await count.ExecuteScalarAsync())!;
    }
}
