using Orchestrator.Http;

namespace Orchestrator.Data;

/// <summary>Whether this replica's hot paths should ask the database right now. A path whose work can wait for its next
/// round (a heartbeat's task delivery, a stream's look for work) asks <see cref="TryAsk"/> first. After the database
/// failed such a path (down, frozen, locked, out of connections), nobody asks for <see cref="RetryEvery"/>; then one caller
/// asks again (the probe) while the others still skip, until an answer comes back.
/// Why: while the database does not answer, every such read holds a pooled connection for the command timeout and then
/// a thread for Npgsql's cancel request, which it sends synchronously (up to the connect timeout on a frozen server).
/// With the heartbeats of every agent that has work waiting doing that twice a second, the thread pool starved and
/// heartbeats, which need nothing from the database to be answered, took over 10 s. Calls that need an answer
/// (operators', registration) do not ask here: they try, and answer 503 with Retry-After.</summary>
public sealed class DatabaseAvailability(TimeProvider time, ILogger<DatabaseAvailability> logger)
{
    /// <summary>How long nobody asks after a failure, and so how long work held back by an outage may wait after it
    /// ends (at most this, plus the next heartbeat or stream tick).</summary>
    public static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(5);

    private const long Answering = 0;

    // The timestamp (TimeProvider.GetTimestamp) from which the next probe may ask; Answering while the database answers.
    private long _nextAskAt = Answering;

    /// <summary>True when the caller should ask the database now: it answers, or this caller is the one probe due.</summary>
    public bool TryAsk()
    {
        var next = Volatile.Read(ref _nextAskAt);
        if (next == Answering)
        {
            return true;
        }

        var now = time.GetTimestamp();
        return now >= next && Interlocked.CompareExchange(ref _nextAskAt, NextAskAfter(now), next) == next;
    }

    /// <summary>Reports how an ask ended: <paramref name="failure"/> is null when the database answered. A failure that
    /// says the database cannot answer (not a conflict such as a deadlock, which the same request survives) stops the
    /// asking for <see cref="RetryEvery"/>; an answer resumes it for everyone.</summary>
    public void Report(Exception? failure)
    {
        if (failure is null)
        {
            if (Volatile.Read(ref _nextAskAt) != Answering && Interlocked.Exchange(ref _nextAskAt, Answering) != Answering)
            {
                logger.DatabaseAnswersAgain();
            }

            return;
        }

        if (!TransientFailures.IsUnavailable(failure))
        {
            return;
        }

        if (Interlocked.Exchange(ref _nextAskAt, NextAskAfter(time.GetTimestamp())) == Answering)
        {
            logger.DatabaseNotAnswering(failure.GetType().Name, failure.Message, RetryEvery.TotalSeconds);
        }
    }

    // Never equal to Answering, whatever the clock's timestamps.
    private long NextAskAfter(long now) =>
        now + (long)(RetryEvery.TotalSeconds * time.TimestampFrequency) is var next && next == Answering ? 1 : next;
}
