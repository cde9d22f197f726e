using System.Diagnostics;
using System.Net;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Certificates;

/// <summary>CSRs for keys the CA does not certify, made by openssl as an agent would make them: every endpoint that
/// takes a CSR answers 400 naming the accepted algorithms, and registration checks the token before it reads one.</summary>
public sealed class UnsupportedCsrTests(SharedApps apps) : IClassFixture<SharedApps>
{
    public static TheoryData<string> Kinds => ["ed25519", "ed448", "p256-explicit-parameters", "secp256k1"];

    [SkippableTheory]
    [MemberData(nameof(Kinds))]
    public async Task Registration_renewal_and_heartbeat_refuse_the_csr_with_a_400_naming_the_accepted_algorithms(string kind)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var csr = await OpenSslCsrAsync(kind);
        var token = await app.CreateRegistrationTokenAsync();
        var agent = await app.RegisterAgentAsync();
        var name = SharedApps.Unique("edwards");
        var logged = app.Logs.Events.Count;

        var answers = new[]
        {
            await app.Client().PostAsync("/api/v1/agents/register", TestAgents.JsonContent(new { name, version = "1", csr }, token)),
            await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/certificate/renew", new { csr }),
            await agent.Client.PostJson($"/api/v1/agents/{agent.Id}/heartbeat", new { status = "healthy", csr }),
        };

        foreach (var answer in answers)
        {
            var problem = await answer.ShouldBeProblem(HttpStatusCode.BadRequest);
            var error = problem.GetProperty("errors").GetProperty("csr")[0].GetString()!;
            Assert.Contains("ECDSA P-256", error);
            Assert.Contains("RSA", error);
        }

        Assert.DoesNotContain(app.Logs.Events.Skip(logged), e => e.Exception is not null);
        // The refused registration gave its token use back.
        await (await app.Client().PostAsync("/api/v1/agents/register",
            TestAgents.JsonContent(new { name, version = "1" }, token))).ShouldBe(HttpStatusCode.Created);
    }

    [SkippableFact]
    public async Task Registration_checks_the_token_before_it_reads_the_csr()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var csr = await OpenSslCsrAsync("ed25519");

        await (await app.Client().PostAsync("/api/v1/agents/register",
            TestAgents.JsonContent(new { name = "anonymous", version = "1", csr }, "orr_not-a-token"))).ShouldBeProblem(HttpStatusCode.Unauthorized);
        await (await app.Client().PostAsync("/api/v1/agents/register",
            TestAgents.JsonContent(new { name = "anonymous", version = "1", csr = "not a csr" }, "orr_not-a-token"))).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    private static async Task<string> OpenSslCsrAsync(string kind)
    {
        var directory = Directory.CreateTempSubdirectory("orch-csr-").FullName;
        try
        {
            var key = Path.Combine(directory, "key.pem");
            string[] generate = kind switch
            {
                "ed25519" => ["genpkey", "-algorithm", "ed25519", "-out", key],
                "ed448" => ["genpkey", "-algorithm", "ed448", "-out", key],
                "p256-explicit-parameters" => ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-param_enc", "explicit", "-out", key],
                "secp256k1" => ["ecparam", "-name", "secp256k1", "-genkey", "-noout", "-out", key],
                _ => throw new ArgumentOutOfRangeException(nameof(kind)),
            };
            await OpenSslAsync(generate);
            return await OpenSslAsync(["req", "-new", "-key", key, "-subj", "/CN=agent"]);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<string> OpenSslAsync(string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo("openssl", arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"openssl {string.Join(' ', arguments)}: {error}");
        return await output;
    }
}
