using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace Orchestrator.Benchmarks;

/// <summary>Registration with a CSR, issuance included (issue 26, goal 3): new agents register as fast as W concurrent
/// connections allow, with the service's per-address rate limit raised. Keys and CSRs are made before the clock starts,
/// so the figure is the service's work (token check, CSR check, signing, JWT, inserts, commit), not the generator's.
/// Twice: every agent with the same multi-use token (a fleet's bootstrap token), and each with a token of its own.</summary>
public static class Registrations
{
    public sealed record Result(string Tokens, int Registered, int Errors, double Seconds, List<double> LatenciesMs)
    {
        public double PerSecond => Registered / Seconds;
    }

    public static async Task<Result> RunAsync(Uri address, int count, int workers, bool sharedToken)
    {
        using var admin = Agents.NewClient(address, null, null, ServiceProcess.AdminKey);
        var tokens = new string[count];
        if (sharedToken)
        {
            Array.Fill(tokens, await TokenAsync(admin, count));
        }
        else
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 8 },
                async (i, _) => tokens[i] = await TokenAsync(admin, 1));
        }
        var requests = Enumerable.Range(0, count).Select(i =>
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var name = $"reg-{i:D5}-{Guid.NewGuid():N}"[..24];
            return (Token: tokens[i], Body: JsonSerializer.SerializeToUtf8Bytes(new
            {
                name,
                version = "1.0.0",
                capabilities = new[] { "docker" },
                labels = new Dictionary<string, string> { ["bench"] = "register" },
                csr = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256).CreateSigningRequestPem(),
            }));
        }).ToList();

        var clients = Enumerable.Range(0, workers).Select(_ => Agents.NewClient(address, null, null)).ToList();
        // One unmeasured request per connection: the TLS handshakes are not registrations.
        await Task.WhenAll(clients.Select(c => c.GetAsync("/health/live")));
        var latencies = new ConcurrentBag<double>();
        var next = -1;
        var errors = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(clients.Select(async client =>
        {
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/agents/register")
                {
                    Content = new ByteArrayContent(requests[i].Body) { Headers = { ContentType = new("application/json") } },
                };
                request.Headers.Add("X-Agent-Token", requests[i].Token);
                var started = Stopwatch.GetTimestamp();
                using var answer = await client.SendAsync(request);
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                if (!answer.IsSuccessStatusCode)
                {
                    if (Interlocked.Increment(ref errors) <= 3)
                    {
                        Console.Error.WriteLine($"  registration: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync()}");
                    }
                }
            }
        }));
        clock.Stop();
        clients.ForEach(c => c.Dispose());
        return new Result(sharedToken ? "one multi-use token" : "a token each", count - errors, errors, clock.Elapsed.TotalSeconds, [.. latencies]);
    }

    private static async Task<string> TokenAsync(HttpClient admin, int maxUses)
    {
        using var answer = await admin.PostAsJsonAsync("/api/v1/registration-tokens", new { maxUses, description = "benchmark" });
        answer.EnsureSuccessStatusCode();
        return (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }
}
