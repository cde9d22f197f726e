using System.Collections.Concurrent;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Orchestrator.Data;

/// <summary>Queues this process's SQLite write transactions, one at a time per database file, in arrival order.
/// SQLite has one writer per file, and every transaction here starts as one (<c>BEGIN IMMEDIATE</c>); a second writer
/// that finds the file busy is retried by Microsoft.Data.Sqlite with a 150 ms sleep on a pool thread until its timeout.
/// Under concurrent writes (a fleet completing a batch, registrations at once) those sleeps, not the writes, set the
/// pace. Waiting here instead costs no thread and lets the next writer in the moment the last one ends. A writer that
/// waits longer than the connection's timeout gets SQLite's own busy error (503 with Retry-After), as before.
/// The turn ends when the transaction commits, rolls back or fails, or, for one disposed without either (an early
/// return rolls back), when its connection closes. PostgreSQL connections pass through untouched.</summary>
internal sealed class SqliteWriterQueue : IDbTransactionInterceptor, IDbConnectionInterceptor
{
    private const int SqliteBusy = 5;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _files = new(StringComparer.Ordinal);
    private readonly ConditionalWeakTable<DbConnection, SemaphoreSlim> _turns = new();

    public async ValueTask<InterceptionResult<DbTransaction>> TransactionStartingAsync(
        DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result,
        CancellationToken cancellationToken = default)
    {
        if (connection is SqliteConnection sqlite)
        {
            var file = _files.GetOrAdd(sqlite.DataSource, _ => new SemaphoreSlim(1, 1));
            if (!await file.WaitAsync(TimeSpan.FromSeconds(sqlite.DefaultTimeout), cancellationToken))
            {
                throw Busy(sqlite);
            }

            _turns.AddOrUpdate(connection, file);
        }

        return result;
    }

    public InterceptionResult<DbTransaction> TransactionStarting(
        DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result)
    {
        if (connection is SqliteConnection sqlite)
        {
            var file = _files.GetOrAdd(sqlite.DataSource, _ => new SemaphoreSlim(1, 1));
            if (!file.Wait(TimeSpan.FromSeconds(sqlite.DefaultTimeout)))
            {
                throw Busy(sqlite);
            }

            _turns.AddOrUpdate(connection, file);
        }

        return result;
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => EndTurn(ConnectionOf(eventData));

    public Task TransactionCommittedAsync(
        DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        EndTurn(ConnectionOf(eventData));
        return Task.CompletedTask;
    }

    public void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => EndTurn(ConnectionOf(eventData));

    public Task TransactionRolledBackAsync(
        DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        EndTurn(ConnectionOf(eventData));
        return Task.CompletedTask;
    }

    public void TransactionFailed(DbTransaction transaction, TransactionErrorEventData eventData) => EndTurn(ConnectionOf(eventData));

    public Task TransactionFailedAsync(
        DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        EndTurn(ConnectionOf(eventData));
        return Task.CompletedTask;
    }

    public InterceptionResult ConnectionClosing(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        EndTurn(connection);
        return result;
    }

    public ValueTask<InterceptionResult> ConnectionClosingAsync(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        EndTurn(connection);
        return ValueTask.FromResult(result);
    }

    /// <summary>The context's connection: the transaction's own is gone once it has ended.</summary>
    private static DbConnection? ConnectionOf(DbContextEventData eventData) => eventData.Context?.Database.GetDbConnection();

    /// <summary>Ends the connection's turn if it holds one; a second end of the same turn does nothing.</summary>
    private void EndTurn(DbConnection? connection)
    {
        if (connection is SqliteConnection && _turns.TryGetValue(connection, out var file) && _turns.Remove(connection))
        {
            file.Release();
        }
    }

    private static SqliteException Busy(SqliteConnection connection) =>
        new($"database is locked: another write to {connection.DataSource} held it longer than {connection.DefaultTimeout} s", SqliteBusy);
}
