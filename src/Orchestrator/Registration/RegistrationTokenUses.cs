using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Orchestrator.Data;

namespace Orchestrator.Registration;

/// <summary>Counts the uses of registration tokens. A registration takes its token's use in a statement of its own,
/// committed before the registration's transaction begins, and gives it back when it is refused; so a fleet's shared
/// token is locked for that one statement only, not through every registration's signing, inserts and commit (which
/// held concurrent registrations of one token to one commit at a time: 113–143 a second). Registrations of one token
/// that arrive while its statement runs take their uses together in the next one: at most one statement per token is
/// in flight on a replica.
/// <para>The count stays exact across replicas: the statement adds only while the sum stays within the token's uses, so a
/// token never registers more agents than it has uses. What can go the other way: a replica that stops between taking a
/// use and committing its registration, or cannot give a refused registration's use back (the database gone at that
/// moment), loses that use; the token then registers one agent fewer.</para></summary>
public sealed class RegistrationTokenUses(IServiceScopeFactory scopes, TimeProvider time, ILogger<RegistrationTokenUses> logger)
{
    private readonly ConcurrentDictionary<Guid, Queue> _queues = new();

    /// <summary>Takes one use of the token, or null when it has none left (used up, revoked or expired meanwhile).
    /// Dispose the use to give it back unless <see cref="TokenUse.Spend"/> was called.</summary>
    public async Task<TokenUse?> TakeAsync(Guid tokenId)
    {
        var waiter = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        while (true)
        {
            var queue = _queues.GetOrAdd(tokenId, id => new Queue(id));
            bool lead;
            lock (queue)
            {
                if (queue.Retired)
                {
                    continue; // its drain ended and removed it between the look-up and the lock: a new queue takes over
                }

                queue.Waiting.Add(waiter);
                lead = !queue.Draining;
                queue.Draining = true;
            }

            if (lead)
            {
                _ = Task.Run(() => DrainAsync(queue));
            }

            return await waiter.Task ? new TokenUse(this, tokenId) : null;
        }
    }

    /// <summary>Takes uses for everyone waiting, a statement at a time, until nobody waits.</summary>
    private async Task DrainAsync(Queue queue)
    {
        while (true)
        {
            List<TaskCompletionSource<bool>> batch;
            lock (queue)
            {
                if (queue.Waiting.Count == 0)
                {
                    queue.Retired = true;
                    _queues.TryRemove(new KeyValuePair<Guid, Queue>(queue.TokenId, queue));
                    return;
                }

                batch = [.. queue.Waiting];
                queue.Waiting.Clear();
            }

            try
            {
                var taken = await TakeFromDatabaseAsync(queue.TokenId, batch.Count);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].TrySetResult(i < taken);
                }
            }
            catch (Exception ex)
            {
                // The database's trouble is each waiting registration's answer (a 503 when it is transient).
                foreach (var waiter in batch)
                {
                    waiter.TrySetException(ex);
                }
            }
        }
    }

    /// <summary>Adds up to <paramref name="wanted"/> uses to the token's count, as many as it has left; the number added.</summary>
    private async Task<int> TakeFromDatabaseAsync(Guid tokenId, int wanted)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var take = wanted;
        while (true)
        {
            var now = time.GetUtcNow().UtcDateTime;
            var usable = db.RegistrationTokens.Where(t => t.Id == tokenId && t.RevokedAt == null && t.ExpiresAt > now);
            var added = await usable.Where(t => t.Uses + take <= t.MaxUses)
                .ExecuteUpdateAsync(s => s.SetProperty(t => t.Uses, t => t.Uses + take));
            if (added == 1)
            {
                return take;
            }

            // Fewer uses left than wanted (or none, or the token revoked or expired): read what is left and take that.
            // Another replica may take some between the read and the next statement; then this reads again.
            var left = await usable.AsNoTracking().Select(t => (int?)(t.MaxUses - t.Uses)).FirstOrDefaultAsync();
            if (left is not > 0)
            {
                return 0;
            }

            take = Math.Min(wanted, left.Value);
        }
    }

    private async Task GiveBackAsync(Guid tokenId)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
            await db.RegistrationTokens.Where(t => t.Id == tokenId && t.Uses > 0)
                .ExecuteUpdateAsync(s => s.SetProperty(t => t.Uses, t => t.Uses - 1));
        }
        catch (Exception ex)
        {
            // The refusal is still the caller's answer; the token keeps one use fewer (the safe direction).
            logger.UseNotGivenBack(tokenId, ex);
        }
    }

    /// <summary>One use of a token, taken for a registration under way.</summary>
    public sealed class TokenUse(RegistrationTokenUses owner, Guid tokenId) : IAsyncDisposable
    {
        private bool _spent;

        /// <summary>Called just before the registration commits: from there on it may have committed even if the commit
        /// throws (a connection lost while committing), so the use is never given back.</summary>
        public void Spend() => _spent = true;

        public async ValueTask DisposeAsync()
        {
            if (!_spent)
            {
                _spent = true;
                await owner.GiveBackAsync(tokenId);
            }
        }
    }

    private sealed class Queue(Guid tokenId)
    {
        public Guid TokenId { get; } = tokenId;
        public List<TaskCompletionSource<bool>> Waiting { get; } = [];
        public bool Draining { get; set; }
        public bool Retired { get; set; }
    }
}
