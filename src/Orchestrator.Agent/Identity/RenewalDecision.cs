namespace Orchestrator.Agent.Identity;

/// <summary>When the agent rotates its key and renews: once two thirds of the certificate's life (counted from when the
/// agent received it, since the server backdates NotBefore for clock skew) have passed. That is well before the
/// server's own renewal window (the last hour of a day by default), so the agent renews with a fresh key instead of the
/// server re-certifying the old one, and a missed heartbeat or two still leaves time.</summary>
public static class RenewalDecision
{
    public enum Action
    {
        None,
        Renew,
        Expired,
    }

    public static Action Decide(DateTime now, DateTime receivedAt, DateTime expiresAt)
    {
        if (now >= expiresAt)
        {
            return Action.Expired;
        }

        var life = expiresAt - receivedAt;
        return now >= receivedAt + (life * 2 / 3) ? Action.Renew : Action.None;
    }
}
