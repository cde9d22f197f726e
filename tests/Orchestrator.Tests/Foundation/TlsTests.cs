using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.Authentication;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Foundation;

/// <summary>Issue 28's hardening: the service's own TLS 1.2 offers ECDHE suites with an AEAD cipher only (no CBC),
/// TLS 1.3 as usual, and <c>Orchestrator:Tls:CipherSuites</c> replaces the list. Real handshakes, each client offering
/// only the suites under test.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class TlsTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableFact]
    public async Task Tls12_offers_aead_suites_only_and_tls13_is_offered()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        Assert.Equal(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            await HandshakeAsync(app, SslProtocols.Tls12, [TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]));
        Assert.Equal(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            await HandshakeAsync(app, SslProtocols.Tls12, [TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]));
        Assert.Equal(TlsCipherSuite.TLS_AES_256_GCM_SHA384, await HandshakeAsync(app, SslProtocols.Tls13, [TlsCipherSuite.TLS_AES_256_GCM_SHA384]));
        await Assert.ThrowsAnyAsync<AuthenticationException>(() => HandshakeAsync(app, SslProtocols.Tls12,
        [
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
        ]));
    }

    [SkippableFact]
    public async Task The_configured_suites_replace_the_default_list()
    {
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, settings: new Dictionary<string, string?>
        {
            ["Orchestrator:Tls:CipherSuites:0"] = "TLS_AES_256_GCM_SHA384",
            ["Orchestrator:Tls:CipherSuites:1"] = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        });

        Assert.Equal(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            await HandshakeAsync(app, SslProtocols.Tls12, [TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]));
        await Assert.ThrowsAnyAsync<AuthenticationException>(() =>
            HandshakeAsync(app, SslProtocols.Tls12, [TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]));
        await Assert.ThrowsAnyAsync<AuthenticationException>(() =>
            HandshakeAsync(app, SslProtocols.Tls13, [TlsCipherSuite.TLS_AES_128_GCM_SHA256]));
    }

    /// <summary>The suite agreed when the client offers only <paramref name="offered"/> over <paramref name="protocol"/>.</summary>
    private static async Task<TlsCipherSuite> HandshakeAsync(TestApp app, SslProtocols protocol, TlsCipherSuite[] offered)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(app.BaseAddress.Host, app.BaseAddress.Port);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            EnabledSslProtocols = protocol,
            CipherSuitesPolicy = new CipherSuitesPolicy(offered),
            // The chain is not under test here (CertificateTests checks it).
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        return tls.NegotiatedCipherSuite;
    }
}
