using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace Orchestrator.Benchmarks;

/// <summary>The attack run of issue 28, from outside: six threads renew one agent's credentials in a loop (four with
/// <c>POST …/certificate/renew</c>, chaining each renewal from the last one they were handed, two with heartbeats that
/// carry a CSR for a new key), spread over every replica, while an operator deletes the agent. One second after the
/// delete answered, every certificate and token any of them was handed is tried on <c>GET …/identity</c> on every
/// replica: none may be accepted. Not a speed figure: it runs here because the benchmark already starts the published
/// service as its own processes, on SQLite and on two PostgreSQL replicas.</summary>
public static class DeletedAgent
{
    public sealed record Result(string Store, int Replicas, int Runs, int HandedOut, int HandedOutAfterDelete, int Probes, int Accepted,
        int ServerErrors);

    private const int Renewers = 4;
    private const int Rotators = 2;

    public static async Task<Result> RunAsync(string store, List<ServiceProcess> replicas, int runs)
    {
        int handedOut = 0, afterDelete = 0, probes = 0, accepted = 0, serverErrors = 0;
        using var admin = Agents.NewClient(replicas[0].Address, null, null, ServiceProcess.AdminKey);
        for (var run = 0; run < runs; run++)
        {
            var agent = (await Fleet.RegisterAsync(replicas[0].Address, 1))[0];
            agent.Client.Dispose();
            var issued = new ConcurrentBag<(X509Certificate2 Certificate, string Token)>();
            var deleted = 0;
            var errors = 0;
            var afterThisDelete = 0;
            var enough = new TaskCompletionSource();

            // Each thread renews with the credentials it holds last, so renewals chain from certificates that were
            // themselves handed out while the delete ran, as an agent renewing on schedule does.
            async Task RenewLoopAsync(int thread)
            {
                var certificate = agent.Certificate;
                var token = agent.Token;
                for (var i = 0; Volatile.Read(ref deleted) == 0; i++)
                {
                    var replica = replicas[(thread + i) % replicas.Count];
                    using var client = Agents.NewClient(replica.Address, certificate, token);
                    var rotate = thread >= Renewers;
                    using var key = rotate ? ECDsa.Create(ECCurve.NamedCurves.nistP256) : null;
                    HttpResponseMessage answer;
                    try
                    {
                        answer = rotate
                            ? await client.PostAsJsonAsync($"/api/v1/agents/{agent.Id}/heartbeat", new
                            {
                                status = "healthy",
                                resourceUsage = new { cpu = 1.0, memory = 1.0, disk = 1.0 },
                                runningTasks = 0,
                                csr = new CertificateRequest("CN=attack", key!, HashAlgorithmName.SHA256).CreateSigningRequestPem(),
                            })
                            : await client.PostAsJsonAsync($"/api/v1/agents/{agent.Id}/certificate/renew", new { });
                    }
                    catch (HttpRequestException)
                    {
                        // A connection the service closed (its credentials revoked): the next request says why.
                        continue;
                    }

                    using (answer)
                    {
                        if ((int)answer.StatusCode >= 500)
                        {
                            Interlocked.Increment(ref errors);
                            Console.Error.WriteLine($"  [{store}] {(int)answer.StatusCode}: {await answer.Content.ReadAsStringAsync()}");
                        }

                        if (answer.StatusCode != HttpStatusCode.OK)
                        {
                            return;
                        }

                        var body = await answer.Content.ReadFromJsonAsync<JsonElement>();
                        var renewal = body;
                        if (rotate && !body.TryGetProperty("certificateRenewal", out renewal) || renewal.ValueKind != JsonValueKind.Object)
                        {
                            continue;
                        }

                        var pem = renewal.GetProperty("cert").GetString()!;
                        using var bare = X509Certificate2.CreateFromPem(pem);
                        using var withKey = rotate ? bare.CopyWithPrivateKey(key!) : bare.CopyWithPrivateKey(agent.Certificate.GetECDsaPrivateKey()!);
                        certificate = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
                        token = renewal.GetProperty("token").GetString()!;
                        issued.Add((certificate, token));
                        if (Volatile.Read(ref deleted) != 0)
                        {
                            Interlocked.Increment(ref afterThisDelete);
                        }

                        if (issued.Count >= 12)
                        {
                            enough.TrySetResult();
                        }
                    }
                }
            }

            var threads = Enumerable.Range(0, Renewers + Rotators).Select(t => Task.Run(() => RenewLoopAsync(t))).ToList();
            // The delete goes in while renewals are landing (a dozen handed out), not after a fixed time.
            await Task.WhenAny(enough.Task, Task.WhenAll(threads));
            using (var deletion = await admin.DeleteAsync($"/api/v1/agents/{agent.Id}"))
            {
                if (deletion.StatusCode != HttpStatusCode.OK)
                {
                    throw new InvalidOperationException($"the delete answered {(int)deletion.StatusCode}: {await deletion.Content.ReadAsStringAsync()}");
                }
            }

            Volatile.Write(ref deleted, 1);
            var answeredAt = DateTime.UtcNow;
            await Task.WhenAll(threads);
            // As the outside run did: one second after the delete answered (other replicas hear of it by notification).
            var wait = answeredAt.AddSeconds(1) - DateTime.UtcNow;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }

            foreach (var (certificate, token) in issued.Append((agent.Certificate, agent.Token)))
            {
                foreach (var replica in replicas)
                {
                    using var client = Agents.NewClient(replica.Address, certificate, token);
                    probes++;
                    try
                    {
                        using var answer = await client.GetAsync($"/api/v1/agents/{agent.Id}/identity");
                        if (answer.StatusCode == HttpStatusCode.OK)
                        {
                            accepted++;
                            Console.Error.WriteLine($"  [{store}] ACCEPTED after the delete on {replica.Address}: {certificate.SerialNumber}");
                        }
                        else if ((int)answer.StatusCode >= 500)
                        {
                            errors++;
                        }
                    }
                    catch (HttpRequestException)
                    {
                        // Refused during the handshake: not accepted.
                    }
                }
            }

            handedOut += issued.Count;
            afterDelete += afterThisDelete;
            serverErrors += errors;
            Console.WriteLine($"  [{store}] run {run + 1}: {issued.Count} credentials handed out ({afterThisDelete} answered after the delete), " +
                              $"{accepted} accepted so far");
        }

        return new Result(store, replicas.Count, runs, handedOut, afterDelete, probes, accepted, serverErrors);
    }
}
