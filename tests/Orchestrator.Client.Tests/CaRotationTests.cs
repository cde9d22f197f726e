using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Client.Tests;

/// <summary>A real CA rotation under clients that pinned the old bundle. The service runs on its own host (a rotation
/// changes it for everyone) with a fake clock, so a certificate lifetime passes at once. The clock starts two days
/// back: everything the service issues while it moves forward is already valid, and still valid, by the real clock
/// that TLS checks with on both sides.</summary>
public sealed class CaRotationTests
{
    [SkippableFact]
    public async Task Clients_that_received_the_new_bundle_over_a_trusted_connection_keep_working_when_the_server_moves_to_the_new_root()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(-2));
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite, time);
        var oldBundle = await app.Client().GetStringAsync("/api/v1/ca");
        var agentOptions = Options(app, oldBundle);
        var operatorOptions = Options(app, oldBundle);
        using var agent = new AgentClient(agentOptions);
        using var operators = new OrchestratorClient(operatorOptions, TestApp.AdminKey);
        var key = CertificateRequests.NewKey();
        var registered = await agent.RegisterAsync((await operators.RegistrationTokens.CreateAsync(new CreateTokenRequest("rotation", null, 1, null))).Token,
            new RegisterRequest("rotating-agent", "1.0.0", [], [], CertificateRequests.CreatePem(key, "rotating-agent")));
        agent.UseCredentials(new AgentCredentials(registered.AgentId, CertificateRequests.WithKey(registered.Certificate.Cert, key), registered.Token));

        var rotated = await operators.Ca.RotateAsync();
        // Within the certificate lifetime (a day) after the rotation the server still presents its old-root certificate:
        // the agent renews in that time, as it does at two thirds of its lifetime, and the operator refreshes its pin.
        time.Advance(TimeSpan.FromHours(20));
        var renewal = await agent.RenewAsync(null);
        agent.UseCredentials(new AgentCredentials(registered.AgentId, CertificateRequests.WithKey(renewal.Cert, key), renewal.Token));
        Assert.True(await operators.Ca.RefreshTrustAsync());
        Assert.False(await operators.Ca.RefreshTrustAsync());

        // Then the server moves to the new root: a client still pinned to the old bundle alone is refused from now on.
        time.Advance(TimeSpan.FromHours(4));
        await Poll.Until(async () =>
        {
            time.Advance(TimeSpan.FromMinutes(10));
            return await RefusedAsync(Options(app, oldBundle));
        }, "the server to present a certificate from the new root");

        // New connections (the agent's first on its renewed credentials; a fresh operator client on the same trust) are
        // accepted, because the adopted pins hold the new root.
        Assert.Equal(registered.AgentId, (await agent.GetIdentityAsync()).AgentId);
        using var freshOperator = new OrchestratorClient(operatorOptions, TestApp.AdminKey);
        Assert.Equal("rotating-agent", (await freshOperator.Agents.GetAsync(registered.AgentId)).Name);
        var newRoot = X509Certificate2.CreateFromPem(rotated.Certificate);
        Assert.Contains(agentOptions.Trust!.Roots, r => r.Thumbprint == newRoot.Thumbprint);
        Assert.Contains(operatorOptions.Trust!.Roots, r => r.Thumbprint == newRoot.Thumbprint);
    }

    private static OrchestratorClientOptions Options(TestApp app, string bundle) => new()
    {
        Server = app.BaseAddress,
        Trust = ServerTrust.FromPem(bundle),
        Retry = RetryPolicy.None,
    };

    /// <summary>Whether a fresh connection pinned to these options is refused at the TLS layer.</summary>
    private static async Task<bool> RefusedAsync(OrchestratorClientOptions options)
    {
        using var client = new OrchestratorClient(options, null);
        try
        {
            await client.Ca.GetBundleAsync();
            return false;
        }
        catch (HttpRequestException ex) when (ex.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            return true;
        }
    }
}
