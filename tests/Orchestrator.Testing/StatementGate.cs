using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Orchestrator.Testing;

/// <summary>An EF Core interceptor that holds every matching statement, while armed, until <c>participants</c>
/// of them have arrived (or <c>timeout</c> passed). Two requests that each run a matching statement are so made to
/// run it at the same moment: a check-then-write race that timing alone would hit now and then happens every time,
/// and an atomic step (the check inside the write, under a lock) shows it holds. Register it with
/// <c>services.AddSingleton&lt;IInterceptor&gt;(gate)</c>.</summary>
public sealed class StatementGate(Func<string, bool> matches, int participants, TimeSpan timeout) : DbCommandInterceptor
{
    private readonly Lock _gate = new();
    private TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _arrived;
    private volatile bool _armed;

    /// <summary>Statements held (or let through after the timeout) since the gate was last armed.</summary>
    public int Arrived => Volatile.Read(ref _arrived);

    public void Arm()
    {
        lock (_gate)
        {
            _all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _arrived = 0;
            _armed = true;
        }
    }

    public void Disarm()
    {
        _armed = false;
        _all.TrySetResult();
    }

    public override async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        await HoldAsync(command, cancellationToken);
        return result;
    }

    public override async ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        await HoldAsync(command, cancellationToken);
        return result;
    }

    public override async ValueTask<InterceptionResult<object>> ScalarExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<object> result, CancellationToken cancellationToken = default)
    {
        await HoldAsync(command, cancellationToken);
        return result;
    }

    private async Task HoldAsync(DbCommand command, CancellationToken cancellationToken)
    {
        if (!_armed || !matches(command.CommandText))
        {
            return;
        }

        Task all;
        lock (_gate)
        {
            all = _all.Task;
            if (++_arrived >= participants)
            {
                _all.TrySetResult();
            }
        }

        // The timeout only matters when the code under test serialises the statements (one waits on a lock the
        // other holds): then the first goes on alone, as it must.
        await Task.WhenAny(all, Task.Delay(timeout, cancellationToken));
    }
}
