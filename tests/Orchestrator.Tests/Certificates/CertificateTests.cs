using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Orchestrator.Certificates;
using Orchestrator.Data;
using Orchestrator.Hosting;
using Orchestrator.Tests.Agents;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Certificates;

public sealed class CertificateTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableFact]
    public async Task The_trust_bundle_is_anonymous_pem_and_verifies_issued_certificates_with_openssl()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();

        var response = await app.Client().GetAsync("/api/v1/ca");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-pem-file", response.Content.Headers.ContentType?.MediaType);
        var bundle = await response.Content.ReadAsStringAsync();
        Assert.Equal(bundle, agent.Registration.GetProperty("certificate").GetProperty("ca").GetString());
        var (ok, output) = await OpenSslVerifyAsync(bundle, agent.Registration.GetProperty("certificate").GetProperty("cert").GetString()!);
        Assert.True(ok, output);
    }

    [SkippableFact]
    public async Task An_issued_agent_certificate_follows_the_issuance_rules()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        // Certificates carry whole seconds: the issuing moment lies between these two.
        var before = DateTime.UtcNow.AddSeconds(-1);
        var agent = await app.RegisterAgentAsync();
        var after = DateTime.UtcNow;

        var certificate = agent.Certificate;
        Assert.InRange(certificate.NotAfter.ToUniversalTime(), before.AddDays(1), after.AddDays(1));
        Assert.True(certificate.NotBefore.ToUniversalTime() < before.AddMinutes(-1));
        Assert.Equal("1.2.840.10045.2.1", certificate.PublicKey.Oid.Value);
        Assert.Equal(256, certificate.GetECDsaPublicKey()!.KeySize);
        Assert.Contains(certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>(), o => o.Value == "1.3.6.1.5.5.7.3.2");
        Assert.Equal(agent.Id, IssuanceRules.AgentIdOf(certificate));
        Assert.Equal(16, certificate.SerialNumberBytes.Length);
        await using var scope = app.Services.CreateAsyncScope();
        var row = await scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>().IssuedCertificates.SingleAsync(c => c.Serial == certificate.SerialNumber);
        Assert.Equal(agent.Id, row.AgentId);
        Assert.Equal(IssuanceRules.ThumbprintOf(certificate), row.Thumbprint);
    }

    [SkippableTheory]
    [InlineData("ecdsa-p256")]
    [InlineData("ecdsa-p384")]
    [InlineData("rsa-2048")]
    public async Task With_a_csr_the_agent_keeps_its_key(string kind)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var token = await app.CreateRegistrationTokenAsync();
        using AsymmetricAlgorithm key = kind switch
        {
            "ecdsa-p256" => ECDsa.Create(ECCurve.NamedCurves.nistP256),
            "ecdsa-p384" => ECDsa.Create(ECCurve.NamedCurves.nistP384),
            _ => RSA.Create(2048),
        };

        var body = await (await app.Client().PostAsync("/api/v1/agents/register",
            TestAgents.JsonContent(new { name = SharedApps.Unique("csr-agent"), version = "1", csr = Csr(key) }, token))).ShouldBe(HttpStatusCode.Created);

        var certificate = body.GetProperty("certificate");
        Assert.Equal(System.Text.Json.JsonValueKind.Null, certificate.GetProperty("key").ValueKind);
        var withKey = WithKey(certificate.GetProperty("cert").GetString()!, key);
        var client = app.Client(certificate: withKey, bearer: body.GetProperty("token").GetString());
        await (await client.GetAsync($"/api/v1/agents/{body.GetProperty("agentId").GetGuid()}/identity")).ShouldBe(HttpStatusCode.OK);
    }

    [SkippableFact]
    public async Task A_csr_with_a_short_rsa_key_or_a_bad_signature_is_refused()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var token = await app.CreateRegistrationTokenAsync();
        using var weak = RSA.Create(1024);
        using var good = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var tampered = TamperedCsr(good);

        foreach (var csr in new[] { Csr(weak), tampered })
        {
            var problem = await (await app.Client().PostAsync("/api/v1/agents/register",
                TestAgents.JsonContent(new { name = "weak", version = "1", csr }, token))).ShouldBeProblem(HttpStatusCode.BadRequest);
            Assert.True(problem.GetProperty("errors").TryGetProperty("csr", out _));
        }
    }

    [SkippableFact]
    public async Task A_certificate_from_another_ca_is_401()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        using var rogueKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var rogueRoot = IssuanceRules.CreateRoot(rogueKey, Guid.NewGuid(), DateTimeOffset.UtcNow, TimeSpan.FromDays(30));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = IssuanceRules.AgentRequest(agent.Id, PublicKey.CreateFromSubjectPublicKeyInfo(key.ExportSubjectPublicKeyInfo(), out _));
        using var forged = IssuanceRules.Sign(request, rogueRoot, rogueKey, DateTimeOffset.UtcNow, TimeSpan.FromHours(1));
        using var forgedKeyed = forged.CopyWithPrivateKey(key);
        var forgedWithKey = TlsCertificates.ForTls(forgedKeyed);

        var problem = await (await app.Client(certificate: forgedWithKey, bearer: agent.Token).GetAsync($"/api/v1/agents/{agent.Id}/identity"))
            .ShouldBeProblem(HttpStatusCode.Unauthorized);

        Assert.Contains("CA", problem.GetProperty("detail").GetString());
    }

    [SkippableFact]
    public async Task An_expired_certificate_is_401()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, time);
        var agent = await app.RegisterAgentAsync();
        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);

        time.Advance(TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1));

        var problem = await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBeProblem(HttpStatusCode.Unauthorized);
        Assert.Contains("expired", problem.GetProperty("detail").GetString());
    }

    [SkippableTheory, BothProviders]
    public async Task Revoking_an_agents_certificates_takes_effect_on_its_next_request(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();
        var other = await app.RegisterAgentAsync();
        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AgentCredentials>().RevokeAllAsync(agent.Id, "test", CancellationToken.None);
        }

        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await other.Client.GetAsync($"/api/v1/agents/{other.Id}/identity")).ShouldBe(HttpStatusCode.OK);
    }

    [SkippableFact]
    public async Task A_revocation_on_one_replica_reaches_the_other_without_waiting_for_its_periodic_reload()
    {
        // The clock stands still, so the replicas' minute-by-minute reload of the revocation list never runs: only the
        // event from the first replica can tell the second.
        var clock = AgentTestSupport.NewClock();
        await using var first = await TestApp.StartAsync(DatabaseProvider.Postgres, clock);
        await using var second = TestApp.StartOn(first.Storage, clock);
        var agent = await first.RegisterAgentAsync();
        var viaSecond = second.Client(certificate: agent.Certificate, bearer: agent.Token);
        // The second replica learns a certificate issued by the first on first sight.
        await (await viaSecond.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);

        await using (var scope = first.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AgentCredentials>().RevokeAllAsync(agent.Id, "test", CancellationToken.None);
        }

        HttpStatusCode status = default;
        await Poll.Until(async () => (status = (await viaSecond.GetAsync($"/api/v1/agents/{agent.Id}/identity")).StatusCode) != HttpStatusCode.OK,
            "the second replica to refuse the revoked certificate");

        Assert.Equal(HttpStatusCode.Unauthorized, status);
    }

    [SkippableTheory, BothProviders]
    public async Task Renewal_gives_a_working_certificate_and_token_while_the_old_ones_still_work(DatabaseProvider provider)
    {
        var app = await apps.For(provider);
        var agent = await app.RegisterAgentAsync();

        var renewed = await (await agent.Client.PostAsync($"/api/v1/agents/{agent.Id}/certificate/renew", null)).ShouldBe(HttpStatusCode.OK);

        Assert.Equal(System.Text.Json.JsonValueKind.Null, renewed.GetProperty("key").ValueKind);
        var key = agent.Certificate.GetECDsaPrivateKey()!;
        var newCertificate = WithKey(renewed.GetProperty("cert").GetString()!, key);
        Assert.NotEqual(agent.Certificate.SerialNumber, newCertificate.SerialNumber);
        var newClient = app.Client(certificate: newCertificate, bearer: renewed.GetProperty("token").GetString());
        var identity = await (await newClient.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(newCertificate.SerialNumber, identity.GetProperty("certificateSerial").GetString());
        await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        // The new token is bound to the new certificate only.
        await (await app.Client(certificate: agent.Certificate, bearer: renewed.GetProperty("token").GetString())
            .GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [SkippableFact]
    public async Task A_renewal_racing_a_revocation_is_refused_and_issues_nothing()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        // The revocation has committed but this replica has not heard of it yet when the renewal runs.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>().IssuedCertificates
                .Where(c => c.Serial == agent.Certificate.SerialNumber)
                .ExecuteUpdateAsync(u => u.SetProperty(c => c.RevokedAt, DateTime.UtcNow));
        }

        var problem = await (await agent.Client.PostAsync($"/api/v1/agents/{agent.Id}/certificate/renew", null))
            .ShouldBeProblem(HttpStatusCode.Unauthorized);

        Assert.Contains("revoked", problem.GetProperty("detail").GetString());
        await using var check = app.Services.CreateAsyncScope();
        Assert.Equal(1, await check.ServiceProvider.GetRequiredService<OrchestratorDbContext>().IssuedCertificates.CountAsync(c => c.AgentId == agent.Id));
    }

    [SkippableFact]
    public async Task Renewal_with_a_csr_certifies_the_new_key()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        using var newKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);

        var renewed = await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/certificate/renew", new { csr = Csr(newKey) })).ShouldBe(HttpStatusCode.OK);

        var certificate = WithKey(renewed.GetProperty("cert").GetString()!, newKey);
        await (await app.Client(certificate: certificate, bearer: renewed.GetProperty("token").GetString())
            .GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        await (await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/certificate/renew", new { csr = "nope" })).ShouldBeProblem(HttpStatusCode.BadRequest);
    }

    [SkippableFact]
    public async Task Renewal_is_due_within_renew_before_of_the_end()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, time);
        var agent = await app.RegisterAgentAsync();
        var principal = await PrincipalOfAsync(app, agent);
        await using var scope = app.Services.CreateAsyncScope();
        var credentials = scope.ServiceProvider.GetRequiredService<AgentCredentials>();

        Assert.False(credentials.IsRenewalDue(principal));
        time.Advance(TimeSpan.FromHours(23) + TimeSpan.FromMinutes(1));
        Assert.True(credentials.IsRenewalDue(principal));
    }

    [SkippableTheory, BothProviders]
    public async Task Rotation_publishes_the_new_root_first_and_signs_with_it_only_after_the_overlap(DatabaseProvider provider)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = await TestApp.StartAsync(provider, time);
        var before = await app.RegisterAgentAsync();
        var oldBundle = await app.Client().GetStringAsync("/api/v1/ca");

        var rotated = await (await app.AdminClient().PostAsync("/api/v1/ca/rotate", null)).ShouldBe(HttpStatusCode.OK);

        var activatesAt = rotated.GetProperty("activatesAt").GetDateTime().ToUniversalTime();
        Assert.Equal(time.GetUtcNow().UtcDateTime.AddDays(1), activatesAt, TimeSpan.FromSeconds(1));
        var newRoot = X509Certificate2.CreateFromPem(rotated.GetProperty("certificate").GetString()!);
        var bundle = await app.Client().GetStringAsync("/api/v1/ca");
        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(bundle);
        Assert.Equal(2, roots.Count);
        Assert.Contains(roots, r => r.Thumbprint == newRoot.Thumbprint);
        var during = await app.RegisterAgentAsync();
        Assert.NotEqual(newRoot.SubjectName.Name, during.Certificate.IssuerName.Name);
        Assert.True((await OpenSslVerifyAsync(oldBundle, during.Certificate.ExportCertificatePem())).Ok);
        Assert.Equal(bundle, during.Registration.GetProperty("certificate").GetProperty("ca").GetString());

        // Shortly before the activation an agent renews, still from the old root, and learns the new one.
        time.Advance(TimeSpan.FromHours(23));
        var renewal = await (await before.Client.PostAsync($"/api/v1/agents/{before.Id}/certificate/renew", null)).ShouldBe(HttpStatusCode.OK);
        var renewed = WithKey(renewal.GetProperty("cert").GetString()!, before.Certificate.GetECDsaPrivateKey()!);
        Assert.True(ChainsTo(renewed, oldBundle));
        Assert.Equal(bundle, renewal.GetProperty("ca").GetString());
        time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromMinutes(1));

        var after = await app.RegisterAgentAsync();
        Assert.Equal(newRoot.SubjectName.Name, after.Certificate.IssuerName.Name);
        await (await app.Client(certificate: renewed, bearer: renewal.GetProperty("token").GetString()).GetAsync($"/api/v1/agents/{before.Id}/identity"))
            .ShouldBe(HttpStatusCode.OK);
        await (await after.Client.GetAsync($"/api/v1/agents/{after.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        Assert.False(ChainsTo(after.Certificate, oldBundle));
        Assert.True(ChainsTo(after.Certificate, bundle));
        await (await app.Client().PostAsync("/api/v1/ca/rotate", null)).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [SkippableFact]
    public async Task A_second_rotation_while_the_first_waits_to_activate_is_a_409()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, time);
        await (await app.AdminClient().PostAsync("/api/v1/ca/rotate", null)).ShouldBe(HttpStatusCode.OK);

        var problem = await (await app.AdminClient().PostAsync("/api/v1/ca/rotate", null)).ShouldBeProblem(HttpStatusCode.Conflict);

        Assert.Contains("starts signing at", problem.GetProperty("detail").GetString());
        time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        await (await app.AdminClient().PostAsync("/api/v1/ca/rotate", null)).ShouldBe(HttpStatusCode.OK);
    }

    [SkippableTheory, BothProviders]
    public async Task A_replica_restarted_during_the_overlap_signs_with_the_active_root_so_agents_pinning_the_old_bundle_still_renew(DatabaseProvider provider)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var storage = await TestStorage.CreateAsync(provider);
        using var _ = storage;
        TestAgent agent;
        string pinned;
        await using (var first = TestApp.StartOn(storage, time))
        {
            agent = await first.RegisterAgentAsync();
            pinned = await first.Client().GetStringAsync("/api/v1/ca");
            await (await first.AdminClient().PostAsync("/api/v1/ca/rotate", null)).ShouldBe(HttpStatusCode.OK);
        }

        // The replica comes back in the middle of the overlap: it issues its own server certificate at start.
        time.Advance(TimeSpan.FromHours(12));
        await using var restarted = TestApp.StartOn(storage, time);

        Assert.True(ChainsTo(await ServerCertificateAsync(restarted), pinned));
        // The agent checks the server against the bundle it pinned at registration, over real TLS, and renews.
        var renewal = await (await PinnedClient(restarted, pinned, time, agent.Certificate, agent.Token)
            .PostAsync($"/api/v1/agents/{agent.Id}/certificate/renew", null)).ShouldBe(HttpStatusCode.OK);
        var renewedBundle = renewal.GetProperty("ca").GetString()!;
        var renewed = WithKey(renewal.GetProperty("cert").GetString()!, agent.Certificate.GetECDsaPrivateKey()!);
        Assert.True(ChainsTo(renewed, pinned));
        var published = new X509Certificate2Collection();
        published.ImportFromPem(renewedBundle);
        Assert.Equal(2, published.Count);

        // After the overlap every replica moves to the new root; the agent, holding the bundle from its renewal, follows.
        time.Advance(TimeSpan.FromHours(12) + TimeSpan.FromMinutes(1));
        // The renewal loop ticks once a minute of service time: each look moves the clock on by one tick.
        await Poll.Until(async () =>
        {
            var moved = !ChainsTo(await ServerCertificateAsync(restarted), pinned);
            time.Advance(TimeSpan.FromMinutes(1));
            return moved;
        }, "the restarted replica to present a server certificate from the new root");
        await (await PinnedClient(restarted, renewedBundle, time, renewed, renewal.GetProperty("token").GetString()!)
            .GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        var next = await (await PinnedClient(restarted, renewedBundle, time, renewed, renewal.GetProperty("token").GetString()!)
            .PostAsync($"/api/v1/agents/{agent.Id}/certificate/renew", null)).ShouldBe(HttpStatusCode.OK);
        Assert.False(ChainsTo(X509Certificate2.CreateFromPem(next.GetProperty("cert").GetString()!), pinned));
    }

    /// <summary>An agent's client that trusts only <paramref name="bundle"/> for the server, checked at the service's time.</summary>
    private static HttpClient PinnedClient(TestApp app, string bundle, TimeProvider time, X509Certificate2 certificate, string token)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(bundle);
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = [certificate],
                LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate,
                RemoteCertificateValidationCallback = (_, presented, _, _) =>
                {
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    chain.ChainPolicy.VerificationTime = time.GetUtcNow().UtcDateTime;
                    return presented is not null && chain.Build(X509CertificateLoader.LoadCertificate(presented.GetRawCertData()));
                },
            },
        };
        var client = new HttpClient(handler) { BaseAddress = app.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    [SkippableTheory, BothProviders]
    public async Task Rotation_gives_new_tokens_a_new_signing_key_on_every_replica_while_older_tokens_keep_working(DatabaseProvider provider)
    {
        await using var app = await TestApp.StartAsync(provider);
        await using var replica = provider == DatabaseProvider.Postgres ? TestApp.StartOn(app.Storage) : null;
        var before = await app.RegisterAgentAsync();
        var oldKey = new JsonWebToken(before.Token).Kid;

        var rotated = await (await app.AdminClient().PostAsync("/api/v1/ca/rotate", null)).ShouldBe(HttpStatusCode.OK);

        var newKey = rotated.GetProperty("tokenSigningKeyId").GetString();
        Assert.NotEqual(oldKey, newKey);
        await (await before.Client.GetAsync($"/api/v1/agents/{before.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        var renewal = await (await before.Client.PostAsync($"/api/v1/agents/{before.Id}/certificate/renew", null)).ShouldBe(HttpStatusCode.OK);
        var renewedToken = renewal.GetProperty("token").GetString()!;
        Assert.Equal(newKey, new JsonWebToken(renewedToken).Kid);
        var renewed = WithKey(renewal.GetProperty("cert").GetString()!, before.Certificate.GetECDsaPrivateKey()!);
        await (await app.Client(certificate: renewed, bearer: renewedToken).GetAsync($"/api/v1/agents/{before.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        if (replica is not null)
        {
            // The other replica hears of the rotation through NOTIFY and signs with the new key too.
            await Poll.Until(async () =>
            {
                var issued = await (await replica.Client(certificate: before.Certificate, bearer: before.Token)
                    .PostAsync($"/api/v1/agents/{before.Id}/certificate/renew", null)).ShouldBe(HttpStatusCode.OK);
                return new JsonWebToken(issued.GetProperty("token").GetString()!).Kid == newKey;
            }, "the other replica to sign with the new key");
            await (await replica.Client(certificate: before.Certificate, bearer: before.Token).GetAsync($"/api/v1/agents/{before.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        }
    }

    [SkippableFact]
    public async Task A_retired_root_leaves_the_bundle_once_its_last_certificate_expired()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, time);
        await app.RegisterAgentAsync();
        await (await app.AdminClient().PostAsync("/api/v1/ca/rotate", null)).ShouldBe(HttpStatusCode.OK);

        time.Advance(TimeSpan.FromHours(25));

        // The server moves to the new root (its old certificate then needs no trust) on its next tick.
        var roots = new X509Certificate2Collection();
        await Poll.Until(async () =>
        {
            time.Advance(TimeSpan.FromMinutes(1));
            roots = [];
            roots.ImportFromPem(await app.Client().GetStringAsync("/api/v1/ca"));
            return roots.Count == 1;
        }, "the retired root to leave the bundle");

        Assert.Single(roots);
    }

    [SkippableFact]
    public async Task After_a_rotation_the_server_keeps_its_old_root_certificate_until_agents_had_a_lifetime_to_renew()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, time);
        var oldBundle = await app.Client().GetStringAsync("/api/v1/ca");
        await (await app.AdminClient().PostAsync("/api/v1/ca/rotate", null)).ShouldBe(HttpStatusCode.OK);

        var renewal = app.Services.GetRequiredService<ServerCertificateRenewal>();
        time.Advance(TimeSpan.FromHours(23));
        // Only once the renewal loop has looked at this time does the old certificate show that it chose to keep it.
        var due = time.GetUtcNow().UtcDateTime;
        await Poll.Until(() => renewal.LastCheck >= due, "the server certificate check at +23 h");
        Assert.True(ChainsTo(await ServerCertificateAsync(app), oldBundle));

        var newBundle = await app.Client().GetStringAsync("/api/v1/ca");
        await Poll.Until(async () =>
        {
            time.Advance(TimeSpan.FromMinutes(10));
            return !ChainsTo(await ServerCertificateAsync(app), oldBundle);
        }, "the server to present a certificate from the new root");

        var presented = await ServerCertificateAsync(app);
        Assert.False(ChainsTo(presented, oldBundle));
        Assert.True(ChainsTo(presented, newBundle));
    }

    private static bool ChainsTo(X509Certificate2 certificate, string bundle)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(bundle);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid;
        return chain.Build(certificate);
    }

    [SkippableTheory, BothProviders]
    public async Task The_ca_survives_a_restart_and_its_key_is_encrypted_at_rest(DatabaseProvider provider)
    {
        string bundle;
        TestAgent agent;
        var storage = await TestStorage.CreateAsync(provider);
        using var _ = storage;
        await using (var app = TestApp.StartOn(storage))
        {
            agent = await app.RegisterAgentAsync();
            bundle = await app.Client().GetStringAsync("/api/v1/ca");
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
            var root = await db.CaRoots.SingleAsync();
            Assert.DoesNotContain("PRIVATE KEY", root.ProtectedPrivateKey);
            Assert.All(await db.DataProtectionKeys.ToListAsync(), k => Assert.Contains("EncryptedData", k.Xml));
        }

        await using var restarted = TestApp.StartOn(storage);
        Assert.Equal(bundle, await restarted.Client().GetStringAsync("/api/v1/ca"));
        await (await restarted.Client(certificate: agent.Certificate, bearer: agent.Token)
            .GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        await restarted.RegisterAgentAsync();
    }

    [SkippableFact]
    public async Task The_server_presents_a_certificate_from_the_ca_for_the_configured_names()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var bundle = await app.Client().GetStringAsync("/api/v1/ca");

        var presented = await ServerCertificateAsync(app);

        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(bundle);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(presented), string.Join(", ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.True(presented.MatchesHostname("localhost"));
        Assert.True(presented.MatchesHostname("127.0.0.1"));
    }

    [SkippableFact]
    public async Task The_server_certificate_is_renewed_before_it_expires_without_a_restart()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, time);
        var first = await ServerCertificateAsync(app);

        time.Advance(TimeSpan.FromDays(21));
        var current = first;
        await Poll.Until(async () =>
        {
            time.Advance(TimeSpan.FromMinutes(1));
            current = await ServerCertificateAsync(app);
            return current.SerialNumber != first.SerialNumber;
        }, "the server certificate to be renewed");

        Assert.NotEqual(first.SerialNumber, current.SerialNumber);
        Assert.True(current.NotAfter > first.NotAfter);
    }

    [SkippableFact]
    public async Task Behind_a_trusted_proxy_the_forwarded_certificate_authenticates_the_agent()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?>
        {
            ["Orchestrator:ForwardedClientCertificate:Enabled"] = "true",
            ["Orchestrator:ForwardedClientCertificate:KnownProxies:0"] = "127.0.0.1",
        });
        var agent = await app.RegisterAgentAsync();
        var proxy = app.Client(bearer: agent.Token);
        proxy.DefaultRequestHeaders.Add("X-Forwarded-Client-Cert", Uri.EscapeDataString(agent.Certificate.ExportCertificatePem()));

        await (await proxy.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);
    }

    [SkippableFact]
    public async Task The_forwarded_certificate_header_is_ignored_unless_enabled_for_the_proxy()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?>
        {
            ["Orchestrator:ForwardedClientCertificate:Enabled"] = "true",
            ["Orchestrator:ForwardedClientCertificate:KnownProxies:0"] = "10.1.2.3",
        });
        var agent = await app.RegisterAgentAsync();
        var caller = app.Client(bearer: agent.Token);
        caller.DefaultRequestHeaders.Add("X-Forwarded-Client-Cert", Uri.EscapeDataString(agent.Certificate.ExportCertificatePem()));

        await (await caller.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    internal static string Csr(AsymmetricAlgorithm key)
    {
        var subject = new X500DistinguishedName("CN=agent");
        var request = key switch
        {
            ECDsa ecdsa => new CertificateRequest(subject, ecdsa, ecdsa.KeySize > 256 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256),
            RSA rsa => new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            _ => throw new ArgumentException("unsupported key", nameof(key)),
        };
        return request.CreateSigningRequestPem();
    }

    private static string TamperedCsr(ECDsa key)
    {
        var der = new CertificateRequest("CN=agent", key, HashAlgorithmName.SHA256).CreateSigningRequest();
        der[^1] ^= 0x01; // last byte of the signature
        return PemEncoding.WriteString("CERTIFICATE REQUEST", der);
    }

    private static X509Certificate2 WithKey(string certificatePem, AsymmetricAlgorithm key)
    {
        using var certificate = X509Certificate2.CreateFromPem(certificatePem);
        using var withKey = key switch
        {
            ECDsa ecdsa => certificate.CopyWithPrivateKey(ecdsa),
            RSA rsa => certificate.CopyWithPrivateKey(rsa),
            _ => throw new ArgumentException("unsupported key", nameof(key)),
        };
        return TlsCertificates.ForTls(withKey);
    }

    private static async Task<System.Security.Claims.ClaimsPrincipal> PrincipalOfAsync(TestApp app, TestAgent agent)
    {
        // The principal the authentication handler builds, taken from a real request.
        var identity = await (await agent.Client.GetAsync($"/api/v1/agents/{agent.Id}/identity")).ShouldBe(HttpStatusCode.OK);
        return new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity(
        [
            new System.Security.Claims.Claim(Orchestrator.Certificates.AgentClaims.AgentIdClaim, agent.Id.ToString()),
            new System.Security.Claims.Claim(Orchestrator.Certificates.AgentClaims.CertificateNotAfter,
                identity.GetProperty("certificateExpiresAt").GetDateTime().ToUniversalTime().ToString("O")),
        ], "Agent"));
    }

    private static async Task<X509Certificate2> ServerCertificateAsync(TestApp app)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(app.BaseAddress.Host, app.BaseAddress.Port);
        X509Certificate2? presented = null;
        await using var tls = new SslStream(tcp.GetStream(), false, (_, certificate, _, _) =>
        {
            presented = X509CertificateLoader.LoadCertificate(certificate!.GetRawCertData());
            return true;
        });
        await tls.AuthenticateAsClientAsync("localhost");
        return presented!;
    }

    internal static async Task<(bool Ok, string Output)> OpenSslVerifyAsync(string bundlePem, string certificatePem)
    {
        var directory = Directory.CreateTempSubdirectory("orch-openssl-").FullName;
        try
        {
            var bundle = Path.Combine(directory, "ca.pem");
            var certificate = Path.Combine(directory, "agent.pem");
            await File.WriteAllTextAsync(bundle, bundlePem);
            await File.WriteAllTextAsync(certificate, certificatePem);
            var start = new ProcessStartInfo("openssl", ["verify", "-CAfile", bundle, "-purpose", "sslclient", certificate])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode == 0, output);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
