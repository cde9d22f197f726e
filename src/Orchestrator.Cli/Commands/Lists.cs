namespace Orchestrator.Cli.Commands;

public static class Lists
{
    /// <summary>The first <paramref name="max"/> items (all without a maximum); pages past them are never fetched.</summary>
    public static async Task<List<T>> TakeAsync<T>(IAsyncEnumerable<T> items, int? max, CancellationToken cancellationToken) =>
        max is { } limit ? await items.Take(limit).ToListAsync(cancellationToken) : await items.ToListAsync(cancellationToken);
}
