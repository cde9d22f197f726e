namespace Orchestrator.Testing;

/// <summary>Waiting for something the service does in the background (a flush, a NOTIFY from another replica, a
/// loop's tick after the fake clock moved): checks the condition until it holds, and fails naming what did not
/// happen. The timeout only bounds a failure; a passing test waits no longer than the service takes.</summary>
public static class Poll
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    public static async Task Until(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, $"Timed out waiting for {what}.");
            await Task.Delay(20);
        }
    }

    public static Task Until(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        Until(() => Task.FromResult(condition()), what, timeout);
}
