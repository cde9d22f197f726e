using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace Orchestrator.Testing;

/// <summary>A registered agent and a client that speaks as it: mutual TLS with its certificate plus its bearer token.</summary>
public sealed class TestAgent
{
    public required Guid Id { get; init; }
    public required string Name { get; init; }

    /// <summary>The issued certificate with its private key, usable by SslStream.</summary>
    public required X509Certificate2 Certificate { get; init; }
    public required string Token { get; init; }
    public required HttpClient Client { get; init; }

    /// <summary>The whole registration answer.</summary>
    public required JsonElement Registration { get; init; }
}

public static class TestAgents
{
    /// <summary>Creates a single-use registration token with the admin key and registers an agent with it.</summary>
    public static async Task<TestAgent> RegisterAgentAsync(this TestApp app, string? name = null, string[]? capabilities = null,
        Dictionary<string, string>? labels = null, string[]? taskTypes = null, Dictionary<string, string>? missingCapabilities = null)
    {
        var token = await app.CreateRegistrationTokenAsync();
        name ??= $"agent-{Guid.NewGuid():N}"[..20];
        var response = await app.Client().PostAsync("/api/v1/agents/register", JsonContent(new
        {
            name,
            version = "1.0.0",
            capabilities = capabilities ?? ["docker", "compose"],
            labels = labels ?? new Dictionary<string, string>(),
            taskTypes,
            missingCapabilities,
        }, token));
        var registration = await response.ShouldBe(HttpStatusCode.Created);
        return app.AgentFrom(registration, name);
    }

    /// <summary>A registration token (shown once) from <c>POST /api/v1/registration-tokens</c>; with
    /// <paramref name="agentId"/>, one for re-enrolling that agent.</summary>
    public static async Task<string> CreateRegistrationTokenAsync(this TestApp app, int maxUses = 1, object? labels = null, Guid? agentId = null)
    {
        var created = await (await app.AdminClient().PostJson("/api/v1/registration-tokens", new { maxUses, labels, agentId }))
            .ShouldBe(HttpStatusCode.Created);
        return created.GetProperty("token").GetString()!;
    }

    /// <summary>A <c>POST /api/v1/agents/register</c> body with the <c>X-Agent-Token</c> header.</summary>
    public static HttpContent JsonContent(object body, string? registrationToken)
    {
        var content = System.Net.Http.Json.JsonContent.Create(body);
        if (registrationToken is not null)
        {
            content.Headers.Add("X-Agent-Token", registrationToken);
        }

        return content;
    }

    /// <summary>Builds the agent's identity from a 201 registration answer (server-generated key).</summary>
    public static TestAgent AgentFrom(this TestApp app, JsonElement registration, string name)
    {
        var certificate = registration.GetProperty("certificate");
        var withKey = WithKey(certificate.GetProperty("cert").GetString()!, certificate.GetProperty("key").GetString()!);
        var token = registration.GetProperty("token").GetString()!;
        return new TestAgent
        {
            Id = registration.GetProperty("agentId").GetGuid(),
            Name = name,
            Certificate = withKey,
            Token = token,
            Client = app.Client(certificate: withKey, bearer: token),
            Registration = registration,
        };
    }

    /// <summary>Certificate + private key as SslStream wants them.</summary>
    public static X509Certificate2 WithKey(string certificatePem, string keyPem) => TlsCertificates.FromPem(certificatePem, keyPem);
}
