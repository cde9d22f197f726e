namespace Orchestrator.Client;

/// <summary>One page of a list. <see cref="NextAfter"/> is the cursor of the next page (from the answer's
/// <c>Link: rel="next"</c>), null on the last page.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextAfter);

internal static class Paging
{
    public static async IAsyncEnumerable<T> All<T>(Func<string?, CancellationToken, Task<Page<T>>> fetch,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? after = null;
        do
        {
            var page = await fetch(after, cancellationToken);
            foreach (var item in page.Items)
            {
                yield return item;
            }

            after = page.NextAfter;
        }
        while (after is not null);
    }
}
