using System.Net;
using System.Text.Json;
using Orchestrator.Contracts;
using Orchestrator.Testing;

namespace Orchestrator.Client.Tests;

public sealed class OperatorClientTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task An_operator_issues_a_token_and_sees_it_listed_without_its_secret()
    {
        using var client = service.Operator();

        var created = await client.RegistrationTokens.CreateAsync(new CreateTokenRequest("ci runners", 60, 3, new() { ["env"] = "ci" }));
        var all = await client.RegistrationTokens.ListAllAsync().ToListAsync();

        var listed = Assert.Single(all, t => t.Id == created.Id);
        Assert.Equal("ci runners", listed.Description);
        Assert.Equal(3, listed.MaxUses);
        Assert.Equal("ci", listed.Labels!["env"]);
        Assert.Null(listed.AgentId);
    }

    [Fact]
    public async Task A_token_for_re_enrolling_an_agent_names_it_and_an_unknown_agent_is_404()
    {
        using var client = service.Operator();
        var registered = await service.App.RegisterAgentAsync();

        var created = await client.RegistrationTokens.CreateAsync(new CreateTokenRequest("re-enrol", null, 1, null, registered.Id));
        var missing = await Assert.ThrowsAsync<OrchestratorApiException>(() =>
            client.RegistrationTokens.CreateAsync(new CreateTokenRequest(null, null, null, null, Guid.NewGuid())));

        Assert.Equal(registered.Id, created.AgentId);
        Assert.Equal(registered.Id, Assert.Single(await client.RegistrationTokens.ListAllAsync().ToListAsync(), t => t.Id == created.Id).AgentId);
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Contains("agentId", missing.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_request_surfaces_as_one_exception_with_status_title_detail_and_field_errors()
    {
        using var client = service.Operator();

        var invalid = await Assert.ThrowsAsync<OrchestratorApiException>(() =>
            client.ApiKeys.CreateAsync(new CreateApiKeyRequest("", ApiKeyRole.Viewer)));
        var missing = await Assert.ThrowsAsync<OrchestratorApiException>(() => client.Agents.GetAsync(Guid.NewGuid()));

        Assert.Equal(HttpStatusCode.BadRequest, invalid.Status);
        Assert.Contains("name", invalid.Errors.Keys);
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Equal("Not found", missing.Title);
        Assert.Contains("No agent has id", missing.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_api_key_is_401_and_a_weak_one_403()
    {
        using var anonymous = service.Operator(apiKey: "ork_not-a-key");
        using var admin = service.Operator();
        var viewerKey = await admin.ApiKeys.CreateAsync(new CreateApiKeyRequest($"viewer-{Guid.NewGuid():N}", ApiKeyRole.Viewer));
        using var viewer = service.Operator(viewerKey.Key);

        var unknown = await Assert.ThrowsAsync<OrchestratorApiException>(() => anonymous.Agents.ListAsync());
        var weak = await Assert.ThrowsAsync<OrchestratorApiException>(() => viewer.RegistrationTokens.CreateAsync());

        Assert.Equal(HttpStatusCode.Unauthorized, unknown.Status);
        Assert.Equal(HttpStatusCode.Forbidden, weak.Status);
        Assert.NotNull(await viewer.Agents.ListAsync());
    }

    [Fact]
    public async Task No_agent_matching_is_a_503_answer_that_is_not_retried()
    {
        var counter = new CountingHandler(service.Options().Trust!);
        using var client = new OrchestratorClient(service.Options(), Testing.TestApp.AdminKey, counter);

        var refused = await Assert.ThrowsAsync<OrchestratorApiException>(() => client.Tasks.CreateAsync(new CreateTaskRequest(
            "agent.noop", null, null, null, null, null, new TaskSelector(["nomad"], new() { ["nobody"] = Guid.NewGuid().ToString() }),
            $"idem-{Guid.NewGuid():N}")));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
        Assert.Equal(1, counter.Requests);
    }

    [Fact]
    public async Task Lists_follow_the_link_header_page_by_page()
    {
        using var client = service.Operator();
        for (var i = 0; i < 3; i++)
        {
            await client.RegistrationTokens.CreateAsync();
        }

        var first = await client.RegistrationTokens.ListAsync(limit: 2);
        var second = await client.RegistrationTokens.ListAsync(limit: 2, after: first.NextAfter);

        Assert.Equal(2, first.Items.Count);
        Assert.NotNull(first.NextAfter);
        Assert.NotEmpty(second.Items);
        Assert.Empty(first.Items.Select(t => t.Id).Intersect(second.Items.Select(t => t.Id)));
    }

    [Fact]
    public async Task The_raw_call_returns_the_api_json_as_it_was_sent()
    {
        using var client = service.Operator();

        var raw = await client.SendRawAsync(HttpMethod.Post, "/api/v1/registration-tokens",
            JsonSerializer.SerializeToElement(new { description = "raw" }));

        Assert.Equal(JsonValueKind.String, raw.GetProperty("token").ValueKind);
        Assert.Equal(1, raw.GetProperty("maxUses").GetInt32());
    }

    [Fact]
    public async Task The_ca_bundle_is_what_the_server_serves()
    {
        using var client = service.Operator(apiKey: null);

        Assert.Equal(service.CaPem, await client.Ca.GetBundleAsync());
    }
}
