using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Orchestrator.Agent.Identity;
using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Agent.Listener;

/// <summary>Gets the agent an identity: the stored one when it is still valid (no token spent), else a registration with
/// the token (a first start, or a re-enrolment after the certificate expired while the host was off). Registration
/// reports <paramref name="taskTypes"/>, the types this agent's executors run, so the service refuses others.</summary>
public sealed partial class Enrolment(AgentSettings settings, AgentClient client, CredentialStore credentials, KeyStore keys, TimeProvider time,
    ILogger logger, IReadOnlyCollection<string> taskTypes)
{
    /// <summary>What the agent starts from, decided before it contacts anyone (so a missing token is reported before a
    /// missing CA pin): the stored identity, if any, and whether it is still valid; fails when there is no valid identity
    /// and no token to get one.</summary>
    public static StartingPoint Check(AgentSettings settings, CredentialStore credentials, TimeProvider time)
    {
        var stored = credentials.Load();
        if (stored is not null && !string.Equals(stored.Server.TrimEnd('/'), settings.Server.ToString().TrimEnd('/'), StringComparison.OrdinalIgnoreCase))
        {
            throw new AgentExitException(ExitCodes.CannotStart,
                $"The state directory {credentials.IdentityPath} belongs to an agent of {stored.Server}, not {settings.Server}; use another --state-dir.");
        }

        if (stored is not null && RenewalDecision.Decide(time.GetUtcNow().UtcDateTime, stored.ReceivedAt, stored.ExpiresAt) != RenewalDecision.Action.Expired)
        {
            return new StartingPoint(stored, Valid: true);
        }

        if (settings.Token is null)
        {
            throw new AgentExitException(ExitCodes.CannotStart, stored is null
                ? $"This host has no agent identity in {settings.StateDir} and no registration token was given: " +
                  "create one (POST /api/v1/registration-tokens) and pass it with --token-file FILE or --token TOKEN."
                : $"The agent's certificate expired at {stored.ExpiresAt:u} (the host was away longer than its lifetime): " +
                  $"give a registration token issued for agent {stored.AgentId} (orchestrator tokens create --agent {stored.AgentId}) " +
                  "with --token-file or --token to enrol it again under the same id.");
        }

        return new StartingPoint(stored, Valid: false);
    }

    /// <summary>The identity to run with: the stored one when <see cref="Check"/> found it valid, else one registered with
    /// the token (under the stored name when re-enrolling).</summary>
    public async Task<StoredIdentity> EnsureAsync(StartingPoint start, CancellationToken cancellationToken)
    {
        if (start is { Valid: true, Stored: { } stored })
        {
            LogReused(logger, stored.Name, stored.AgentId, stored.ExpiresAt);
            return stored;
        }

        return await RegisterAsync(start.Stored?.Name ?? settings.Name, cancellationToken);
    }

    /// <summary>Registers (or re-enrols) with the token. A refused registration ends the agent; a server that cannot be
    /// reached is tried again with back-off, as it may be starting too.</summary>
    public async Task<StoredIdentity> RegisterAsync(string name, CancellationToken cancellationToken)
    {
        using var key = KeyStore.NewKey();
        var request = new RegisterRequest(name, settings.Version, [.. settings.Capabilities.Cast<string?>()],
            settings.Labels.ToDictionary(l => l.Key, l => (string?)l.Value), CertificateRequests.CreatePem(key, name),
            [.. taskTypes.Order(StringComparer.Ordinal)]);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var answer = await client.RegisterAsync(settings.Token!, request, cancellationToken);
                var keyFile = keys.Save(key);
                var identity = new StoredIdentity(answer.AgentId, name, settings.Server.ToString(), answer.Certificate.Cert, answer.Token, keyFile,
                    time.GetUtcNow().UtcDateTime, answer.Certificate.ExpiresAt, Math.Max(1, answer.Config.HeartbeatInterval),
                    Math.Max(1, answer.Config.TaskPollInterval));
                credentials.Save(identity);
                credentials.SaveCaBundle(answer.Certificate.Ca);
                keys.DeleteAllBut(keyFile);
                LogRegistered(logger, name, answer.AgentId, answer.Certificate.ExpiresAt);
                return identity;
            }
            catch (OrchestratorApiException ex) when (ex.Status == HttpStatusCode.Conflict && ex.RetryAfter is { } retryAfter && attempt < 10)
            {
                // A conflict that resolves by itself (the server still counts this agent's previous instance online, or
                // its deletion was under way) says when with Retry-After; one without it (a taken name, a token for
                // another agent, a re-enrolment without a token issued for this agent) ends the agent at once below.
                LogWaitingForOffline(logger, name, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(Math.Clamp(retryAfter.TotalSeconds, 1, 300)), time, cancellationToken);
            }
            catch (OrchestratorApiException ex) when (ex.Status is not (HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or
                                                          HttpStatusCode.GatewayTimeout or HttpStatusCode.TooManyRequests))
            {
                throw new AgentExitException(ExitCodes.CannotStart, $"Registration as '{name}' was refused: {ex.Message}");
            }
            catch (Exception ex) when (ex is OrchestratorApiException or HttpRequestException or TaskCanceledException &&
                                       !cancellationToken.IsCancellationRequested)
            {
                if (ex is HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError })
                {
                    throw new AgentExitException(ExitCodes.CannotStart,
                        $"The server {settings.Server} is not trusted: its certificate does not chain to the pinned CA ({ex.InnerException?.Message ?? ex.Message}).");
                }

                var wait = Backoff.Jittered(attempt, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
                LogRegisterRetry(logger, settings.Server, ex.Message, wait.TotalSeconds);
                await Task.Delay(wait, time, cancellationToken);
            }
        }
    }

    /// <summary>The stored identity as credentials for the client.</summary>
    public AgentCredentials Load(StoredIdentity identity)
    {
        using var key = keys.Load(identity.KeyFile);
        return new AgentCredentials(identity.AgentId, CertificateRequests.WithKey(identity.CertificatePem, key), identity.Token);
    }

    /// <summary>The CA the server must chain to: the <c>--ca-file</c> and the bundle kept in the state directory (the
    /// server sends the current one with every renewal), or, on a first start with only <c>--ca-fingerprint</c>, the
    /// server's bundle checked against the fingerprint and then kept.</summary>
    public static async Task<ServerTrust> ResolveTrustAsync(AgentSettings settings, CredentialStore credentials, CancellationToken cancellationToken)
    {
        var pem = string.Join('\n', new[] { settings.CaFile is null ? null : ReadCaFile(settings.CaFile), credentials.LoadCaBundle() }.Where(p => p is not null));
        if (pem.Length > 0)
        {
            return ServerTrust.FromPem(pem);
        }

        if (settings.CaFingerprint is null)
        {
            throw new AgentExitException(ExitCodes.CannotStart,
                "The server's CA is not pinned: give --ca-file ca.pem (from GET /api/v1/ca, checked out of band) or --ca-fingerprint sha256:HEX.");
        }

        try
        {
            var trust = await ServerTrust.PinByFingerprintAsync(settings.Server, settings.CaFingerprint, cancellationToken);
            credentials.SaveCaBundle(trust.BundlePem);
            return trust;
        }
        catch (ServerTrustException ex)
        {
            throw new AgentExitException(ExitCodes.CannotStart, ex.Message);
        }
        catch (HttpRequestException ex)
        {
            throw new AgentExitException(ExitCodes.CannotStart, $"Could not fetch the CA bundle from {settings.Server}: {ex.Message}");
        }
    }

    private static string ReadCaFile(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new AgentExitException(ExitCodes.CannotStart, $"Cannot read the CA file {path}: {ex.Message}");
        }
    }

    /// <summary>Whether <paramref name="certificatePem"/> certifies <paramref name="key"/>.</summary>
    public static bool Certifies(string certificatePem, ECDsa key)
    {
        using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(certificatePem);
        return certificate.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo());
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Agent {Name} ({AgentId}) starts with its stored identity; certificate valid until {ExpiresAt:u}")]
    private static partial void LogReused(ILogger logger, string name, Guid agentId, DateTime expiresAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Registered as {Name} ({AgentId}); certificate valid until {ExpiresAt:u}")]
    private static partial void LogRegistered(ILogger logger, string name, Guid agentId, DateTime expiresAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Registration as {Name} must wait: {Reason}")]
    private static partial void LogWaitingForOffline(ILogger logger, string name, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot reach {Server} to register ({Reason}); trying again in {Seconds:0.0} s")]
    private static partial void LogRegisterRetry(ILogger logger, Uri server, string reason, double seconds);
}

/// <summary>The stored identity (null on a first start) and whether it is still valid, or else needs the token.</summary>
public sealed record StartingPoint(StoredIdentity? Stored, bool Valid);
