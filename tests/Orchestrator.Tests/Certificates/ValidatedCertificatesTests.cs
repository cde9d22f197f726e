using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orchestrator.Certificates;

namespace Orchestrator.Tests.Certificates;

/// <summary>The certificate thumbprint that binds an agent's token to its certificate is computed once per certificate
/// object (Kestrel gives every request of a connection the same one), and is always the certificate's own.</summary>
public sealed class ValidatedCertificatesTests
{
    private static X509Certificate2 SelfSigned(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
    }

    [Fact]
    public void A_certificate_s_thumbprint_is_its_own_sha256_and_is_computed_once_per_certificate_object()
    {
        var cache = new ValidatedCertificates();
        using var first = SelfSigned("first");
        using var second = SelfSigned("second");
        using var firstAgain = X509CertificateLoader.LoadCertificate(first.RawData);

        var thumbprint = cache.ThumbprintOf(first);

        Assert.Equal(IssuanceRules.ThumbprintOf(first), thumbprint);
        Assert.Same(thumbprint, cache.ThumbprintOf(first));
        Assert.Equal(IssuanceRules.ThumbprintOf(second), cache.ThumbprintOf(second));
        Assert.NotEqual(thumbprint, cache.ThumbprintOf(second));
        // Another object with the same bytes (a new connection presenting the same certificate) gets the same answer.
        Assert.Equal(thumbprint, cache.ThumbprintOf(firstAgain));
    }

    [Fact]
    public void The_claim_texts_are_the_agent_id_and_the_expiry_in_round_trip_form()
    {
        var agent = Guid.NewGuid();
        var notAfter = new DateTime(2026, 12, 6, 10, 30, 0, DateTimeKind.Utc);

        var valid = new ValidatedCertificates.Valid(agent, "01", notAfter.AddDays(-1), notAfter, "spki");

        Assert.Equal(agent.ToString(), valid.AgentIdText);
        Assert.Equal("2026-12-06T10:30:00.0000000Z", valid.NotAfterText);
    }
}
