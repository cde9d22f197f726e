namespace Orchestrator.Agent;

internal static class Signals
{
    /// <summary>Waits for a release or for <paramref name="timeout"/> on the agent's clock; true when released.</summary>
    public static async Task<bool> WaitAsync(this SemaphoreSlim signal, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            await signal.WaitAsync(linked.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
