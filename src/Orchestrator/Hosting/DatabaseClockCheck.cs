using Microsoft.Extensions.Options;
using Npgsql;

namespace Orchestrator.Hosting;

/// <summary>At start, on PostgreSQL, compares this replica's clock with the database's (<c>clock_timestamp()</c>, the
/// best of three round trips, read at their midpoint) and, when they differ by more than
/// <c>Orchestrator:Database:MaxClockSkew</c>, warns and moves the service's clock (<see cref="DatabaseClock"/>) onto the
/// database's. Every replica does the same, so they all judge by the database's clock. SQLite has one replica, on the
/// database's own host. A database that cannot be reached now leaves the replica on its own clock, with a warning: the
/// migrator, which starts next, waits for the database.</summary>
internal sealed class DatabaseClockCheck(
    DatabaseConnection database,
    IOptions<DatabaseOptions> options,
    DatabaseClock clock,
    [FromKeyedServices(DatabaseClock.ReplicaKey)] TimeProvider replica,
    ILogger<DatabaseClockCheck> logger) : IHostedService
{
    private const int RoundTrips = 3;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (database.Provider != DatabaseProvider.Postgres || !options.Value.AlignClock)
        {
            return;
        }

        TimeSpan offset;
        try
        {
            offset = await MeasureAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            logger.ClockCheckFailed(ex);
            return;
        }

        if (offset.Duration() > options.Value.MaxClockSkew)
        {
            logger.ClockDiffersFromDatabase(offset.TotalSeconds, options.Value.MaxClockSkew.TotalSeconds);
            clock.AlignBy(offset);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The database's time minus this replica's, from the round trip that took least.</summary>
    private async Task<TimeSpan> MeasureAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var query = new NpgsqlCommand("SELECT clock_timestamp()", connection);
        var best = (RoundTrip: TimeSpan.MaxValue, Offset: TimeSpan.Zero);
        for (var i = 0; i < RoundTrips; i++)
        {
            var sent = replica.GetUtcNow();
            var answer = (DateTime)(await query.ExecuteScalarAsync(cancellationToken))!;
            var received = replica.GetUtcNow();
            var roundTrip = received - sent;
            if (roundTrip < best.RoundTrip)
            {
                best = (roundTrip, new DateTimeOffset(answer, TimeSpan.Zero) - (sent + roundTrip / 2));
            }
        }

        return best.Offset;
    }
}
