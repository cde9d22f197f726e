using System.Diagnostics;
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

    [SkippableFact]
    public async Task A_tls13_client_resumes_its_session_on_reconnecting_and_is_still_known_by_its_certificate()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var agent = await app.RegisterAgentAsync();
        var directory = Directory.CreateTempSubdirectory("orch-tls-").FullName;
        try
        {
            var certificate = agent.Registration.GetProperty("certificate");
            var cert = Path.Combine(directory, "agent.pem");
            var key = Path.Combine(directory, "agent.key");
            var session = Path.Combine(directory, "session.pem");
            await File.WriteAllTextAsync(cert, certificate.GetProperty("cert").GetString());
            await File.WriteAllTextAsync(key, certificate.GetProperty("key").GetString());
            string[] client = ["-cert", cert, "-key", key, "-tls1_3"];

            var first = await IdentityOverOpenSslAsync(app, agent, [.. client, "-sess_out", session]);
            var second = await IdentityOverOpenSslAsync(app, agent, [.. client, "-sess_in", session]);

            Assert.Contains("New, TLSv1.3", first);
            Assert.Contains("Reused, TLSv1.3", second);
            Assert.Contains("HTTP/1.1 200", second);
            Assert.Contains(agent.Id.ToString(), second);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [SkippableFact]
    public async Task A_client_offering_both_versions_gets_tls13_and_one_limited_to_tls12_still_no_cbc()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        // A client offering both versions gets TLS 1.3 (its suites are all AEAD); one limited to TLS 1.2 still meets the
        // AEAD-only list, also when both kinds of client share the service.
        Assert.Equal(TlsCipherSuite.TLS_AES_128_GCM_SHA256, await HandshakeAsync(app, SslProtocols.Tls12 | SslProtocols.Tls13,
            [TlsCipherSuite.TLS_AES_128_GCM_SHA256, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256]));
        await Assert.ThrowsAnyAsync<AuthenticationException>(() => HandshakeAsync(app, SslProtocols.Tls12,
            [TlsCipherSuite.TLS_AES_128_GCM_SHA256, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256]));
    }

    /// <summary>Asks for the agent's identity over a connection made by <c>openssl s_client</c>, which reports whether
    /// the TLS session was new or resumed; the answer follows in the output.</summary>
    private static async Task<string> IdentityOverOpenSslAsync(TestApp app, TestAgent agent, string[] arguments)
    {
        var start = new ProcessStartInfo("openssl",
            ["s_client", "-connect", $"{app.BaseAddress.Host}:{app.BaseAddress.Port}", "-servername", "localhost", "-ign_eof", .. arguments])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        // Connection: close lets the service end the connection after the answer, and s_client with it (-ign_eof reads
        // on after the request, so the session tickets TLS 1.3 sends after the handshake reach -sess_out).
        await process.StandardInput.WriteAsync($"GET /api/v1/agents/{agent.Id}/identity HTTP/1.1\r\nHost: localhost\r\n" +
            $"Authorization: Bearer {agent.Token}\r\nConnection: close\r\n\r\n");
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output + await error;
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
