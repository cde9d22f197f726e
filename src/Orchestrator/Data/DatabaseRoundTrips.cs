using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Orchestrator.Data;

/// <summary>Counts the statements a piece of work sends to the database, each a round trip: the heartbeat path reports
/// its count per heartbeat (a metric), because the cost of a heartbeat is mostly how often it waits on the database.
/// An EF Core interceptor on every context; the count belongs to the async flow that called <see cref="Count"/>, so
/// requests side by side never count into each other.</summary>
public sealed class DatabaseRoundTrips : DbCommandInterceptor
{
    private static readonly AsyncLocal<Counter?> Current = new();

    /// <summary>Starts counting the statements of the calling flow (until disposed, in the same method).</summary>
    public static Counter Count()
    {
        var counter = new Counter();
        Current.Value = counter;
        return counter;
    }

    public sealed class Counter : IDisposable
    {
        private int _statements;

        public int Statements => Volatile.Read(ref _statements);

        internal void Add() => Interlocked.Increment(ref _statements);

        public void Dispose()
        {
            if (Current.Value == this)
            {
                Current.Value = null;
            }
        }
    }

    public override InterceptionResult<DbDataReader> ReaderExecuting(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        Current.Value?.Add();
        return result;
    }

    public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        Current.Value?.Add();
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        Current.Value?.Add();
        return result;
    }

    public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Current.Value?.Add();
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<object> ScalarExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<object> result)
    {
        Current.Value?.Add();
        return result;
    }

    public override ValueTask<InterceptionResult<object>> ScalarExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<object> result, CancellationToken cancellationToken = default)
    {
        Current.Value?.Add();
        return ValueTask.FromResult(result);
    }
}
