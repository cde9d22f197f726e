using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Orchestrator.Data;

namespace Orchestrator.Tests.Reliability;

/// <summary>The rule that keeps heartbeats and task streams off a database that is not answering: after a failure,
/// nobody asks for <see cref="DatabaseAvailability.RetryEvery"/>, then one probe at a time, until an answer.</summary>
public sealed class DatabaseAvailabilityTests
{
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 5, 12, 0, 0, TimeSpan.Zero));
    private readonly FakeLogger<DatabaseAvailability> _logger = new();
    private readonly DatabaseAvailability _database;

    public DatabaseAvailabilityTests() => _database = new DatabaseAvailability(_clock, _logger);

    private static NpgsqlException Timeout() => new("Exception while reading from stream", new TimeoutException("Timeout during reading attempt"));

    [Fact]
    public void Everyone_asks_a_database_that_answers()
    {
        Assert.True(_database.TryAsk());
        _database.Report(null);
        Assert.True(_database.TryAsk());
        Assert.True(_database.TryAsk());
        Assert.Empty(_logger.Collector.GetSnapshot());
    }

    [Fact]
    public void After_a_failure_nobody_asks_until_the_retry_time_then_one_probe_asks()
    {
        _database.Report(Timeout());

        Assert.False(_database.TryAsk());
        _clock.Advance(DatabaseAvailability.RetryEvery - TimeSpan.FromMilliseconds(1));
        Assert.False(_database.TryAsk());

        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(_database.TryAsk());
        // The probe is out: the others still skip.
        Assert.False(_database.TryAsk());
        Assert.False(_database.TryAsk());
    }

    [Fact]
    public void A_failed_probe_holds_everyone_off_for_another_retry_time_and_an_answer_lets_everyone_ask()
    {
        _database.Report(Timeout());
        _clock.Advance(DatabaseAvailability.RetryEvery);
        Assert.True(_database.TryAsk());
        _database.Report(Timeout());

        _clock.Advance(DatabaseAvailability.RetryEvery - TimeSpan.FromMilliseconds(1));
        Assert.False(_database.TryAsk());
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(_database.TryAsk());
        _database.Report(null);

        Assert.True(_database.TryAsk());
        Assert.True(_database.TryAsk());
    }

    [Fact]
    public void An_outage_is_logged_once_when_it_begins_and_once_when_it_ends()
    {
        _database.Report(Timeout());
        _database.Report(Timeout());
        _clock.Advance(DatabaseAvailability.RetryEvery);
        Assert.True(_database.TryAsk());
        _database.Report(Timeout());
        _clock.Advance(DatabaseAvailability.RetryEvery);
        Assert.True(_database.TryAsk());
        _database.Report(null);
        _database.Report(null);

        var logged = _logger.Collector.GetSnapshot();
        Assert.Collection(logged,
            e => Assert.Contains("did not answer (NpgsqlException: Exception while reading from stream)", e.Message, StringComparison.Ordinal),
            e => Assert.Contains("answers again", e.Message, StringComparison.Ordinal));
    }

    [Fact]
    public void A_conflict_between_requests_or_a_bug_does_not_hold_anyone_off()
    {
        _database.Report(new PostgresException("deadlock detected", "ERROR", "ERROR", "40P01"));
        _database.Report(new PostgresException("could not serialize access", "ERROR", "ERROR", "40001"));
        _database.Report(new InvalidOperationException("a defect, not an outage"));

        Assert.True(_database.TryAsk());
        Assert.Empty(_logger.Collector.GetSnapshot());
    }

    [Fact]
    public void A_locked_or_busy_database_holds_everyone_off()
    {
        _database.Report(new Microsoft.Data.Sqlite.SqliteException("database is locked", 5));

        Assert.False(_database.TryAsk());
    }
}
