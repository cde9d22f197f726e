namespace Orchestrator.Registration;

/// <summary>What the API documentation (Swagger UI, the OpenAPI document) says about each route of this feature, in
/// one place: the summary stays beside its route, the longer description is here.</summary>
internal static class RegistrationDocs
{
    public const string CreateToken =
        "`expiresInMinutes` defaults to and may not exceed 1440; `maxUses` defaults to 1 (single use). `labels` are given " +
        "to agents registering with it (the agent's own labels win). `agentId` makes a token for re-enrolling that " +
        "agent, the only kind that can (an unknown agent: 404); it registers no other name. The token is in this " +
        "answer only; it is stored hashed.";

    public const string RevokeToken = "It cannot register agents any more; agents it registered are not affected.";

    public const string Register =
        "Header `X-Agent-Token`. Answers the agent id, its config, a client certificate (the key too, unless `csr` was " +
        "sent: then the certificate certifies the CSR's key and `key` is null), the CA bundle and a token bound to the " +
        "certificate. A name already registered is 409, unless its agent is offline with only expired certificates and " +
        "the token was issued for it (`agentId`): re-enrolment under the same id. A token issued for an agent used for " +
        "another name: 409.";
}
