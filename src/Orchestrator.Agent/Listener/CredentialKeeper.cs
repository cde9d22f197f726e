using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Orchestrator.Agent.Identity;
using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Agent.Listener;

/// <summary>The agent's current identity and when it changes: which heartbeat asks for a new key, taking a renewal
/// (disk first, then the client), and re-enrolment once the certificate has expired. Knows nothing of the stream or
/// the heartbeat loop; it says what happened and the listener acts on it.</summary>
public sealed partial class CredentialKeeper(
    AgentSettings settings, AgentClient client, Enrolment enrolment, CredentialStore credentials, KeyStore keys, StoredIdentity identity,
    TimeProvider time, ILogger logger)
{
    // The server renewed the current key unasked (its renewal window came before the agent's two-thirds point, as with
    // short lifetimes): the next heartbeat asks for a new key, so the key rotates whatever the server's settings.
    private bool _rotateKey;

    public StoredIdentity Identity { get; private set; } = identity;

    /// <summary>Raised after renewed credentials are on disk and in the client: connections opened with the old ones
    /// should be reopened.</summary>
    public event Func<Task>? Renewed;

    /// <summary>Whether the certificate has expired (a heartbeat would be refused; only re-enrolment helps).</summary>
    public bool Expired => RenewalDecision.Decide(time.GetUtcNow().UtcDateTime, Identity.ReceivedAt, Identity.ExpiresAt) ==
                           RenewalDecision.Action.Expired;

    /// <summary>A new key when the next heartbeat should carry a CSR: past two thirds of the certificate's life, or after
    /// the server renewed the current key unasked. The caller disposes it.</summary>
    public ECDsa? KeyForNextHeartbeat() =>
        RenewalDecision.Decide(time.GetUtcNow().UtcDateTime, Identity.ReceivedAt, Identity.ExpiresAt) == RenewalDecision.Action.Renew || _rotateKey
            ? KeyStore.NewKey()
            : null;

    /// <summary>Takes a renewal: the certificate (for <paramref name="newKey"/> when the heartbeat carried its CSR), the
    /// token bound to it and the CA bundle go to disk in one rename, then to the client; then <see cref="Renewed"/>.</summary>
    public async Task ApplyAsync(RenewalResponse renewal, ECDsa? newKey)
    {
        var previousKeyFile = Identity.KeyFile;
        string keyFile;
        if (newKey is not null && Enrolment.Certifies(renewal.Cert, newKey))
        {
            keyFile = keys.Save(newKey);
        }
        else
        {
            keyFile = Identity.KeyFile;
            using var current = keys.Load(keyFile);
            if (!Enrolment.Certifies(renewal.Cert, current))
            {
                LogRenewalMismatch(logger);
                return;
            }
        }

        var renewed = Identity with
        {
            CertificatePem = renewal.Cert,
            Token = renewal.Token,
            KeyFile = keyFile,
            ReceivedAt = time.GetUtcNow().UtcDateTime,
            ExpiresAt = renewal.ExpiresAt,
        };
        credentials.Save(renewed);
        credentials.SaveCaBundle(renewal.Ca);
        Identity = renewed;
        client.UseCredentials(enrolment.Load(renewed));
        keys.DeleteAllBut(keyFile);
        _rotateKey = newKey is null;
        LogRenewed(logger, renewal.ExpiresAt, keyFile != previousKeyFile);
        if (Renewed is { } renewedHandlers)
        {
            await renewedHandlers();
        }
    }

    /// <summary>Registers again under the same name with the agent's token (its certificate expired before it could be
    /// renewed). Null when it did; otherwise why the agent must end.</summary>
    public async Task<AgentExitException?> ReenrolAsync(CancellationToken stopping)
    {
        if (settings.Token is null)
        {
            return new AgentExitException(ExitCodes.CannotStart, $"The agent's certificate expired at {Identity.ExpiresAt:u} before it could be " +
                "renewed; restart it with a fresh registration token (--token-file or --token) to enrol it again under the same id.");
        }

        try
        {
            Identity = await enrolment.RegisterAsync(Identity.Name, stopping);
            client.UseCredentials(enrolment.Load(Identity));
            _rotateKey = false;
            if (Renewed is { } renewedHandlers)
            {
                await renewedHandlers();
            }

            return null;
        }
        catch (AgentExitException ex)
        {
            return ex;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Renewed the certificate, valid until {ExpiresAt:u} (new key: {NewKey})")]
    private static partial void LogRenewed(ILogger logger, DateTime expiresAt, bool newKey);

    [LoggerMessage(Level = LogLevel.Error, Message = "The renewed certificate certifies neither the current nor the new key; ignored")]
    private static partial void LogRenewalMismatch(ILogger logger);
}
