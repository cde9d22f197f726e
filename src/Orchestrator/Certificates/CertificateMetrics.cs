using System.Diagnostics.Metrics;
using Orchestrator.Hosting;

namespace Orchestrator.Certificates;

/// <summary>Agent certificates the CA issued and revoked. Issuance is split by why (registration or renewal), so a
/// renewal rate that falls to zero while agents stay online stands out before certificates expire.</summary>
public sealed class CertificateMetrics
{
    public const string ReasonAttribute = "orchestrator.certificate.reason";

    private readonly Counter<long> _issued;
    private readonly Counter<long> _revoked;

    public CertificateMetrics(IMeterFactory meters)
    {
        var meter = meters.OrchestratorMeter();
        _issued = meter.CreateCounter<long>("orchestrator.certificates.issued", "{certificate}",
            "Agent certificates issued, by reason: registration (and re-enrolment) or renewal.");
        _revoked = meter.CreateCounter<long>("orchestrator.certificates.revoked", "{certificate}",
            "Agent certificates revoked (agent deleted, or renewed while being revoked).");
    }

    public void Issued(bool renewal) =>
        _issued.Add(1, new KeyValuePair<string, object?>(ReasonAttribute, renewal ? "renewal" : "registration"));

    public void Revoked(int count)
    {
        if (count > 0)
        {
            _revoked.Add(count);
        }
    }
}
