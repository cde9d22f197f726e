using System.ComponentModel;
using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Orchestrator.Http;

namespace Orchestrator.Rollouts;

/// <summary><c>GET /api/v1/rollouts/{rolloutId}?wait=SECONDS</c> and <c>GET /api/v1/rollouts/{rolloutId}/events</c>, as
/// for tasks: both wake on <see cref="RolloutChanges"/> (from any replica) and read the database only then, holding no
/// connection while they wait. The events are the rollout's stored history, so a stream resumes by event id.</summary>
public static class RolloutFollowing
{
    private const int EventBatch = 500;

    /// <summary>Returns once the rollout has ended, the wait has run out, the client has gone, or the service is
    /// stopping. The caller reads the rollout afterwards.</summary>
    public static async Task WaitForEndAsync(Guid rolloutId, TimeSpan wait, RolloutQueries queries, RolloutChanges changes, TimeProvider time,
        IHostApplicationLifetime lifetime, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + wait;
        if (wait <= TimeSpan.Zero || await queries.StatusAsync(rolloutId, cancellationToken) is not { } status || status.IsFinal())
        {
            return;
        }

        using var watch = changes.Watch(rolloutId, endOnly: true);
        await watch.UntilEndedAsync(deadline, async token => await queries.StatusAsync(rolloutId, token) is not { } now || now.IsFinal(),
            time, lifetime, cancellationToken);
    }

    /// <summary>The rollout's events after <c>Last-Event-ID</c> (or from its creation), until the one of its end.</summary>
    internal static async Task<Results<EmptyHttpResult, NoContent, ValidationProblem, ProblemHttpResult>> StreamAsync(
        Guid rolloutId,
        [FromHeader(Name = "Last-Event-ID")]
        [Description("The id of the last event received, to resume after it (an EventSource sends it on reconnecting).")]
        string? lastEventId, HttpContext context, RolloutQueries queries, RolloutChanges changes, TimeProvider time,
        IHostApplicationLifetime lifetime, CancellationToken cancellationToken)
    {
        long after = 0;
        if (!string.IsNullOrEmpty(lastEventId) && !long.TryParse(lastEventId, NumberStyles.None, CultureInfo.InvariantCulture, out after))
        {
            return new Validation().Add("Last-Event-ID", "'Last-Event-ID' must be the id of an event this stream sent.").ToProblem();
        }

        var (status, events) = await queries.EventsAsync(rolloutId, after, 1, cancellationToken);
        if (status is null)
        {
            return Problems.NotFound($"No rollout has id {rolloutId}.");
        }

        if (status.Value.IsFinal() && events.Count == 0)
        {
            // The client has seen the end; 204 tells an EventSource to stop reconnecting.
            return TypedResults.NoContent();
        }

        var response = context.Response;
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        using var watch = changes.Watch(rolloutId, endOnly: false);
        try
        {
            await ServerSentEvents.StartAsync(context, stopping.Token);
            while (true)
            {
                (status, events) = await queries.EventsAsync(rolloutId, after, EventBatch, stopping.Token);
                foreach (var stored in events)
                {
                    after = stored.Id;
                    await ServerSentEvents.WriteEventAsync(response, stored.Id.ToString(CultureInfo.InvariantCulture), stored.Type, stored.DataJson,
                        stopping.Token);
                }

                await response.Body.FlushAsync(stopping.Token);
                if (events.Count == EventBatch)
                {
                    continue;
                }

                // A rollout's last event commits with its end, so once it has ended everything has been sent; one deleted
                // by retention while followed sends nothing more.
                if (status is null || status.Value.IsFinal())
                {
                    break;
                }

                if (!await watch.WaitAsync(ServerSentEvents.KeepAliveInterval, time, stopping.Token))
                {
                    await ServerSentEvents.KeepAliveAsync(response, stopping.Token);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The client left, or the service is stopping: the client resumes with Last-Event-ID, here or elsewhere.
        }

        return TypedResults.Empty;
    }
}
