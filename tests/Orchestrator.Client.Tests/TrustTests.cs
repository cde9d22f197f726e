using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Orchestrator.Client.Tests;

public sealed class TrustTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task A_server_whose_certificate_does_not_chain_to_the_pinned_ca_is_refused()
    {
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var otherCa = new CertificateRequest("CN=Someone else's CA", otherKey, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var client = new OrchestratorClient(service.Options() with { Trust = ServerTrust.FromPem(otherCa.ExportCertificatePem()) }, null);

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => client.Ca.GetBundleAsync());

        Assert.Equal(HttpRequestError.SecureConnectionError, refused.HttpRequestError);
    }

    [Fact]
    public async Task A_server_that_fails_the_pin_cannot_move_it()
    {
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var otherCa = new CertificateRequest("CN=Another CA", otherKey, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var options = service.Options() with { Trust = ServerTrust.FromPem(otherCa.ExportCertificatePem()) };
        using var client = new OrchestratorClient(options, null);

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => client.Ca.RefreshTrustAsync());

        Assert.Equal(HttpRequestError.SecureConnectionError, refused.HttpRequestError);
        Assert.Equal(otherCa.Thumbprint, Assert.Single(options.Trust!.Roots).Thumbprint);
    }

    [Fact]
    public void A_bundle_without_a_certificate_leaves_the_pin_as_it_was()
    {
        var trust = ServerTrust.FromPem(service.CaPem);

        Assert.Throws<ArgumentException>(() => trust.Adopt("no certificate here"));

        Assert.Equal(service.CaPem, trust.BundlePem);
    }

    [Fact]
    public async Task The_system_store_does_not_trust_the_private_ca_either()
    {
        using var client = new OrchestratorClient(service.Options() with { Trust = null }, null);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.Ca.GetBundleAsync());
    }

    [Fact]
    public async Task Pinning_by_the_right_fingerprint_trusts_the_servers_bundle()
    {
        var root = X509Certificate2.CreateFromPem(service.CaPem);

        var byCertificate = await ServerTrust.PinByFingerprintAsync(service.App.BaseAddress, ServerTrust.FingerprintOf(root));
        var bySpki = await ServerTrust.PinByFingerprintAsync(service.App.BaseAddress,
            "sha256:" + Convert.ToHexString(SHA256.HashData(root.PublicKey.ExportSubjectPublicKeyInfo())));
        using var client = new OrchestratorClient(service.Options() with { Trust = byCertificate }, null);

        Assert.Equal(service.CaPem, byCertificate.BundlePem);
        Assert.Equal(service.CaPem, bySpki.BundlePem);
        Assert.Equal(service.CaPem, await client.Ca.GetBundleAsync());
    }

    [Fact]
    public async Task Pinning_by_a_wrong_fingerprint_is_refused()
    {
        var wrong = "sha256:" + new string('a', 64);

        await Assert.ThrowsAsync<ServerTrustException>(() => ServerTrust.PinByFingerprintAsync(service.App.BaseAddress, wrong));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("sha1:0123")]
    [InlineData("sha256:xyz")]
    public void A_malformed_fingerprint_is_refused_at_once(string fingerprint) =>
        Assert.Throws<ArgumentException>(() => ServerTrust.ParseFingerprint(fingerprint));

    [Fact]
    public void Colon_separated_openssl_fingerprints_are_read()
    {
        var openssl = "sha256:" + string.Join(':', Enumerable.Repeat("AB", 32));

        Assert.Equal(32, ServerTrust.ParseFingerprint(openssl).Length);
    }
}
