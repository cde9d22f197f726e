using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Foundation;

/// <summary>The service's SQLite write transactions take turns in the process (SqliteWriterQueue) instead of finding
/// the file busy and sleeping 150 ms at a time on a pool thread: a second writer waits without blocking its caller and
/// starts when the first one ends, however it ends.</summary>
public sealed class SqliteWriterQueueTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableFact]
    public async Task A_second_write_transaction_waits_its_turn_without_blocking_and_starts_when_the_first_commits()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        await using var firstScope = app.Services.CreateAsyncScope();
        await using var secondScope = app.Services.CreateAsyncScope();
        var first = firstScope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var second = secondScope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();

        await using var holding = await first.Database.BeginTransactionAsync();
        // Without the queue this call would not return: the driver retries the busy file on this thread until its
        // 30 s timeout and then throws.
        var waiting = second.Database.BeginTransactionAsync();
        var waitedWhileHeld = !waiting.IsCompleted;
        await holding.CommitAsync();
        await using var started = await waiting.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(waitedWhileHeld, "The second transaction started while the first held the file.");
        await started.CommitAsync();
    }

    [SkippableFact]
    public async Task A_transaction_disposed_without_commit_or_rollback_ends_its_turn()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        for (var round = 0; round < 3; round++)
        {
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
            var abandoned = await db.Database.BeginTransactionAsync();
            await abandoned.DisposeAsync(); // as an early return inside `await using` does
        }

        await using var next = app.Services.CreateAsyncScope();
        var nextDb = next.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        await using var turn = await nextDb.Database.BeginTransactionAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await turn.RollbackAsync();
    }
}
