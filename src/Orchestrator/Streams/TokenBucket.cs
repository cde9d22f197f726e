namespace Orchestrator.Streams;

/// <summary>Allows <c>burst</c> messages at once and <c>perSecond</c> sustained, on the injected clock.</summary>
internal sealed class TokenBucket(double perSecond, int burst, TimeProvider time)
{
    private double _tokens = burst;
    private long _last = time.GetTimestamp();

    public bool TryTake()
    {
        var now = time.GetTimestamp();
        _tokens = Math.Min(burst, _tokens + (time.GetElapsedTime(_last, now).TotalSeconds * perSecond));
        _last = now;
        if (_tokens < 1)
        {
            return false;
        }

        _tokens -= 1;
        return true;
    }
}
