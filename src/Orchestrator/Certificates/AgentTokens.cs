using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Orchestrator.Data;
using Orchestrator.Hosting;

namespace Orchestrator.Certificates;

/// <summary>Issues and validates the agents' bearer tokens: ES256 JWTs with <c>sub</c> = agent id and
/// <c>cnf.x5t#S256</c> = the certificate they are bound to (RFC 8705). The signing key is kept like the CA key
/// (encrypted in the database, shared by replicas) and named by <c>kid</c>. A rotation retires the signing key: new
/// tokens use the new one, and tokens signed before keep validating until they expire with their certificate.</summary>
public sealed class AgentTokens(
    IServiceScopeFactory scopes,
    IDataProtectionProvider dataProtection,
    IClusterEvents events,
    TimeProvider time,
    ILogger<AgentTokens> logger) : BackgroundService
{
    public const string ChangedChannel = ClusterChannels.TokenKeysChanged;
    public const string Issuer = "orchestrator";
    public const string Audience = "orchestrator-agent";
    private const string Purpose = "Orchestrator.Security.TokenSigningKey.v1";

    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false };
    private readonly ConcurrentDictionary<string, ECDsaSecurityKey> _keys = new(StringComparer.Ordinal);
    private ECDsaSecurityKey? _signing;
    private TokenValidationParameters? _parameters;
    private readonly ReloadLoop _reloads = new();
    private IDisposable? _subscription;

    // A token naming a key this replica has not loaded reloads the keys (one another replica created a moment ago),
    // but at most once per interval, whatever the number of such tokens: made-up kids cannot make every request read
    // the database. Rotations also reach every replica through their event.
    private static readonly TimeSpan UnknownKidReloadInterval = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _unknownKidReload = new(1, 1);
    private DateTimeOffset _lastUnknownKidReload = DateTimeOffset.MinValue;

    public sealed record Validated(Guid AgentId, string CertificateThumbprint, DateTime ExpiresAt);

    /// <summary>Tokens that passed the full check, by their exact text, so an agent's next request with the same token
    /// costs a look-up instead of a signature verification (most of an authenticated request's CPU). Safe because
    /// nothing else could change the answer: the signature, issuer, audience and claims are fixed by the text; the
    /// lifetime is checked again on every hit, on the injected clock; and a hit also needs its signing key still loaded
    /// (keys are never removed today; if they ever are, their tokens stop at once). Revocation and the binding to the
    /// certificate are checked by the caller on every request, cached or not. Only valid tokens are kept, so a caller
    /// without a real token cannot fill it; bounded, emptied of expired entries, then cleared when full.</summary>
    private readonly ConcurrentDictionary<string, Accepted> _accepted = new(StringComparer.Ordinal);
    internal const int MaxAccepted = 20_000;

    private sealed record Accepted(Validated Token, DateTime NotBefore, string KeyId);

    public string Issue(Guid agentId, string certificateThumbprint, DateTime notBefore, DateTime expiresAt)
    {
        var key = Volatile.Read(ref _signing) ?? throw new InvalidOperationException("The token signing key has not loaded yet.");
        return _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            IssuedAt = time.GetUtcNow().UtcDateTime,
            NotBefore = notBefore,
            Expires = expiresAt,
            Claims = new Dictionary<string, object>
            {
                [JwtRegisteredClaimNames.Sub] = agentId.ToString(),
                [JwtRegisteredClaimNames.Jti] = Guid.NewGuid().ToString("N"),
                ["cnf"] = new Dictionary<string, object> { ["x5t#S256"] = certificateThumbprint },
            },
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.EcdsaSha256),
        });
    }

    /// <summary>The answer for a token that passed the full check before and is still within its lifetime (with its key
    /// loaded); null otherwise, and then <see cref="ValidateAsync"/> decides. Takes the token as a slice of the request's
    /// header, so the common case copies nothing (a token is about 500 characters, every request).</summary>
    public Validated? FindAccepted(ReadOnlySpan<char> token)
    {
        if (!_accepted.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(token, out var accepted))
        {
            return null;
        }

        var now = time.GetUtcNow().UtcDateTime;
        return accepted.NotBefore <= now && now < accepted.Token.ExpiresAt && _keys.ContainsKey(accepted.KeyId) ? accepted.Token : null;
    }

    /// <summary>Checks signature, issuer, audience and lifetime (on the injected clock); the caller checks the binding.</summary>
    public async Task<(Validated? Token, string? Error)> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        if (token.Length > 8192)
        {
            return (null, "The bearer token is not valid.");
        }

        if (FindAccepted(token) is { } known)
        {
            return (known, null);
        }

        // Not accepted before, or expired (or its key gone): the full check below says why.
        _accepted.TryRemove(token, out _);

        var parameters = _parameters ??= new TokenValidationParameters
        {
            ValidIssuer = Issuer,
            ValidAudience = Audience,
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ClockSkew = TimeSpan.Zero,
            // On the injected clock, like certificate validation.
            LifetimeValidator = (notBefore, expires, _, _) =>
                time.GetUtcNow().UtcDateTime is var now && (notBefore is null || notBefore <= now) && expires > now,
            IssuerSigningKeyResolver = (_, _, kid, _) => _keys.TryGetValue(kid ?? string.Empty, out var key) ? [key] : [],
        };

        var result = await _handler.ValidateTokenAsync(token, parameters);
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException &&
            KidOf(token) is { Length: > 0 and <= 64 } kid && !_keys.ContainsKey(kid) &&
            await ReloadForUnknownKidAsync(kid, cancellationToken))
        {
            result = await _handler.ValidateTokenAsync(token, parameters);
        }

        if (!result.IsValid)
        {
            return (null, result.Exception is SecurityTokenExpiredException or SecurityTokenInvalidLifetimeException
                ? "The bearer token has expired or is not yet valid."
                : "The bearer token is not valid.");
        }

        var jwt = (JsonWebToken)result.SecurityToken;
        if (!Guid.TryParse(jwt.Subject, out var agentId) ||
            !jwt.TryGetPayloadValue<JsonElement>("cnf", out var cnf) || cnf.ValueKind != JsonValueKind.Object ||
            !cnf.TryGetProperty("x5t#S256", out var x5t) || x5t.ValueKind != JsonValueKind.String)
        {
            return (null, "The bearer token is not an agent token.");
        }

        var validated = new Validated(agentId, x5t.GetString()!, jwt.ValidTo);
        Remember(token, new Accepted(validated, jwt.ValidFrom, jwt.Kid));
        return (validated, null);
    }

    /// <summary>Number of tokens held by the cache (tests).</summary>
    internal int AcceptedCount => _accepted.Count;

    private void Remember(string token, Accepted accepted)
    {
        if (_accepted.Count >= MaxAccepted)
        {
            var now = time.GetUtcNow().UtcDateTime;
            foreach (var (text, entry) in _accepted)
            {
                if (entry.Token.ExpiresAt <= now)
                {
                    _accepted.TryRemove(text, out _);
                }
            }

            if (_accepted.Count >= MaxAccepted)
            {
                _accepted.Clear();
            }
        }

        _accepted[token] = accepted;
    }

    // A failed validation's result carries no token, so the kid is read from the header here.
    private string? KidOf(string token) => _handler.CanReadToken(token) ? _handler.ReadJsonWebToken(token).Kid : null;

    /// <summary>True when <paramref name="kid"/> is loaded now: by this reload, or by one that ran while this waited.</summary>
    private async Task<bool> ReloadForUnknownKidAsync(string kid, CancellationToken cancellationToken)
    {
        await _unknownKidReload.WaitAsync(cancellationToken);
        try
        {
            var now = time.GetUtcNow();
            if (!_keys.ContainsKey(kid) && now - _lastUnknownKidReload >= UnknownKidReloadInterval)
            {
                _lastUnknownKidReload = now;
                await LoadAsync(cancellationToken);
            }

            return _keys.ContainsKey(kid);
        }
        finally
        {
            _unknownKidReload.Release();
        }
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await EnsureKeyAsync(cancellationToken);
        await LoadAsync(cancellationToken);
        _subscription = _reloads.ReloadOn(events, ChangedChannel);
        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        await base.StopAsync(cancellationToken);
    }

    // Tokens signed with a key not loaded yet still validate (a kid miss reloads); only signing waits, so a failed
    // reload keeps the keys loaded.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        _reloads.RunAsync(LoadAsync, period: null, time, logger.TokenSigningKeysReloadFailed, stoppingToken);

    /// <summary>Adds a new signing key to <paramref name="db"/> and retires the active ones, inside the caller's
    /// transaction; call <see cref="AnnounceChangeAsync"/> after it commits. Returns the new key's id.</summary>
    public async Task<string> RotateAsync(OrchestratorDbContext db, CancellationToken cancellationToken)
    {
        await ClusterLocks.TakeAsync(db, "token.signing-key", cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        await db.SigningKeys.Where(k => k.RetiredAt == null).ExecuteUpdateAsync(u => u.SetProperty(k => k.RetiredAt, now), cancellationToken);
        var row = NewKey();
        db.SigningKeys.Add(row);
        return row.Id;
    }

    /// <summary>Signs with the newest key here at once and tells the other replicas to.</summary>
    public async Task AnnounceChangeAsync(CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken);
        await events.PublishAsync(ChangedChannel, "keys", cancellationToken);
    }

    private async Task EnsureKeyAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        if (await db.SigningKeys.AnyAsync(k => k.RetiredAt == null, cancellationToken))
        {
            return;
        }

        var row = NewKey();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await ClusterLocks.TakeAsync(db, "token.signing-key", cancellationToken);
        if (await db.SigningKeys.AnyAsync(k => k.RetiredAt == null, cancellationToken))
        {
            return;
        }

        db.SigningKeys.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        logger.TokenSigningKeyCreated(row.Id);
    }

    private SigningKey NewKey()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new SigningKey
        {
            Id = Guid.CreateVersion7().ToString("N"),
            ProtectedPrivateKey = ProtectedKeys.Protect(dataProtection.CreateProtector(Purpose), key),
            CreatedAt = time.GetUtcNow().UtcDateTime,
        };
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrchestratorDbContext>();
        var rows = await db.SigningKeys.AsNoTracking().OrderBy(k => k.CreatedAt).ThenBy(k => k.Id).ToListAsync(cancellationToken);
        var protector = dataProtection.CreateProtector(Purpose);
        foreach (var row in rows.Where(r => !_keys.ContainsKey(r.Id)))
        {
            _keys[row.Id] = new ECDsaSecurityKey(ProtectedKeys.UnprotectECDsa(protector, row.ProtectedPrivateKey)) { KeyId = row.Id };
        }

        var active = rows.LastOrDefault(r => r.RetiredAt == null);
        if (active is not null)
        {
            Volatile.Write(ref _signing, _keys[active.Id]);
        }
    }
}
