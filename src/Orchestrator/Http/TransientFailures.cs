using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Orchestrator.Http;

/// <summary>Which failures are the database's passing trouble rather than a fault in this request or in the service:
/// the answer to those is 503 with <c>Retry-After</c> (come back soon), never 500 (a bug). Recognised anywhere in
/// the exception chain, since EF Core wraps provider exceptions (<c>DbUpdateException</c>, retrying strategies).</summary>
public static class TransientFailures
{
    /// <summary>Lowest and highest <c>Retry-After</c> in seconds. Each answer picks one at random between them, so
    /// clients that honour it exactly (as a simple client does) do not all come back in the same second.</summary>
    public const int MinRetryAfterSeconds = 2;
    public const int MaxRetryAfterSeconds = 8;

    public static bool IsTransient(Exception exception)
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is AggregateException aggregate)
            {
                return aggregate.InnerExceptions.Any(IsTransient);
            }

            if (IsTransientItself(current))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A transient failure that says the database cannot answer now (down, frozen, locked, out of connections or
    /// space), as opposed to a conflict between requests (serialization failure, deadlock) that the next request survives.</summary>
    public static bool IsUnavailable(Exception exception)
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is PostgresException { SqlState: "40001" or "40P01" })
            {
                return false;
            }
        }

        return IsTransient(exception);
    }

    /// <summary>A <c>Retry-After</c> value in whole seconds.</summary>
    public static int RetryAfterSeconds() => Random.Shared.Next(MinRetryAfterSeconds, MaxRetryAfterSeconds + 1);

    private static bool IsTransientItself(Exception exception) => exception switch
    {
        PostgresException postgres => IsTransientSqlState(postgres.SqlState),
        // Every other Npgsql failure is on the way to the server: refused or broken connections, a connect or command
        // timeout, the pool exhausted while waiting for a connection (no inner exception says so), a lost protocol.
        NpgsqlException => true,
        SqliteException sqlite => sqlite.SqliteErrorCode is SQLiteBusy or SQLiteLocked or SQLiteIoError or SQLiteFull or SQLiteCantOpen,
        TimeoutException or SocketException => true,
        _ => false,
    };

    // https://www.postgresql.org/docs/current/errcodes-appendix.html
    private static bool IsTransientSqlState(string state) =>
        state.StartsWith("08", StringComparison.Ordinal) ||   // connection exception
        state.StartsWith("53", StringComparison.Ordinal) ||   // insufficient resources: 53300 too many connections, disk full
        state.StartsWith("57P", StringComparison.Ordinal) ||  // admin or crash shutdown, cannot connect now (starting, recovering)
        state is "57014"                                      // query cancelled (statement_timeout, or ours on command timeout)
            or "40001" or "40P01"                             // serialization failure, deadlock: the same request succeeds again
            or "55P03"                                        // lock not available (lock_timeout)
            or "25006";                                       // read-only transaction: a fail-over left us on a standby

    private const int SQLiteBusy = 5;
    private const int SQLiteLocked = 6;
    private const int SQLiteIoError = 10;
    private const int SQLiteFull = 13;
    private const int SQLiteCantOpen = 14;
}
