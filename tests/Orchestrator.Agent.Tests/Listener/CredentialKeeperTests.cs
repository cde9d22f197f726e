using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Agent.Identity;
using Orchestrator.Agent.Listener;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Testing;

namespace Orchestrator.Agent.Tests.Listener;

/// <summary>When the agent asks for a new key and what it does with a renewal, on a fake clock and without a server:
/// the certificates here are self-signed for the keys in play, since the keeper only checks which key one certifies.</summary>
public sealed class CredentialKeeperTests : IDisposable
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(90);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 5, 8, 0, 0, TimeSpan.Zero));
    private readonly string _state = TempDirectories.New("orch-keeper-");
    private readonly CredentialStore _credentials;
    private readonly KeyStore _keys;
    private readonly AgentClient _client = new(new OrchestratorClientOptions { Server = new Uri("https://127.0.0.1:9/") });
    private readonly ECDsa _firstKey = KeyStore.NewKey();
    private readonly CredentialKeeper _keeper;
    private int _renewedEvents;

    public CredentialKeeperTests()
    {
        var state = new StateDirectory(_state).Ensure();
        _credentials = new CredentialStore(state);
        _keys = new KeyStore(state, _time);
        var settings = new AgentSettings { Server = new Uri("https://127.0.0.1:9/"), StateDir = _state };
        var enrolment = new Enrolment(settings, _client, _credentials, _keys, _time, NullLogger.Instance, []);
        var now = _time.GetUtcNow().UtcDateTime;
        var identity = new StoredIdentity(Guid.NewGuid(), "keeper", settings.Server.ToString(), CertificateFor(_firstKey), "token-0",
            _keys.Save(_firstKey), now, now + Lifetime, 1, 1);
        _credentials.Save(identity);
        _keeper = new CredentialKeeper(settings, _client, enrolment, _credentials, _keys, identity, _time, NullLogger.Instance);
        _keeper.Renewed += () =>
        {
            _renewedEvents++;
            return Task.CompletedTask;
        };
    }

    [Fact]
    public void A_new_key_is_asked_for_once_two_thirds_of_the_certificates_life_have_passed()
    {
        _time.Advance(Lifetime * 2 / 3 - TimeSpan.FromSeconds(1));
        using var early = _keeper.KeyForNextHeartbeat();
        _time.Advance(TimeSpan.FromSeconds(1));
        using var due = _keeper.KeyForNextHeartbeat();

        Assert.Null(early);
        Assert.NotNull(due);
        Assert.False(_keeper.Expired);
    }

    [Fact]
    public async Task After_the_server_renews_the_same_key_unasked_the_next_heartbeat_asks_for_a_new_one_and_then_stops_asking()
    {
        await _keeper.ApplyAsync(Renewal(_firstKey, "token-1"), newKey: null);
        using var asked = _keeper.KeyForNextHeartbeat();
        await _keeper.ApplyAsync(Renewal(asked!, "token-2"), asked);
        using var afterRotation = _keeper.KeyForNextHeartbeat();

        Assert.NotNull(asked);
        Assert.Null(afterRotation);
        Assert.Equal(2, _renewedEvents);
        var stored = _credentials.Load()!;
        Assert.Equal("token-2", stored.Token);
        using var storedKey = _keys.Load(stored.KeyFile);
        Assert.True(Enrolment.Certifies(stored.CertificatePem, storedKey));
        Assert.False(Enrolment.Certifies(stored.CertificatePem, _firstKey));
        Assert.Equal("token-2", _client.Credentials!.Token);
    }

    [Fact]
    public async Task A_renewal_that_certifies_neither_key_is_ignored()
    {
        using var stranger = KeyStore.NewKey();
        using var asked = KeyStore.NewKey();

        await _keeper.ApplyAsync(Renewal(stranger, "token-x"), asked);

        Assert.Equal(0, _renewedEvents);
        Assert.Equal("token-0", _keeper.Identity.Token);
        Assert.Equal("token-0", _credentials.Load()!.Token);
    }

    [Fact]
    public async Task Past_its_expiry_without_a_token_the_agent_is_told_to_stop_with_how_to_enrol_again()
    {
        _time.Advance(Lifetime);

        var cannot = await _keeper.ReenrolAsync(CancellationToken.None);

        Assert.True(_keeper.Expired);
        Assert.Equal(ExitCodes.CannotStart, cannot!.ExitCode);
        Assert.Contains("--token-file", cannot.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _firstKey.Dispose();
        _client.Dispose();
        Directory.Delete(_state, recursive: true);
    }

    private RenewalResponse Renewal(ECDsa key, string token)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        return new RenewalResponse(CertificateFor(key), null, "ca", now + Lifetime, token);
    }

    private string CertificateFor(ECDsa key)
    {
        using var certificate = new CertificateRequest("CN=keeper", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(_time.GetUtcNow().AddMinutes(-1), _time.GetUtcNow() + Lifetime);
        return certificate.ExportCertificatePem();
    }
}
