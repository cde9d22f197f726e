using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orchestrator.Testing;

namespace Orchestrator.Client.Tests;

public sealed class ServiceCollectionTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task A_client_resolved_from_the_service_collection_calls_the_service_with_its_key_over_the_pinned_ca()
    {
        var services = new ServiceCollection();
        services.AddOrchestratorClient(o =>
        {
            o.Server = service.App.BaseAddress;
            o.Trust = ServerTrust.FromPem(service.CaPem);
            o.ApiKey = TestApp.AdminKey;
        });
        using var provider = services.BuildServiceProvider();
        using var client = provider.GetRequiredService<OrchestratorClient>();
        var registered = await service.App.RegisterAgentAsync();

        var agent = await client.Agents.GetAsync(registered.Id);

        Assert.Equal(registered.Id, agent.Id);
        Assert.Equal(service.CaPem, await client.Ca.GetBundleAsync());
    }

    [Fact]
    public async Task A_client_from_the_service_collection_retries_a_failing_proxy_through_the_same_pipeline()
    {
        var proxy = new CountingHandler { FailFirst = 2 };
        var services = new ServiceCollection();
        services.AddOrchestratorClient(o =>
        {
            o.Server = service.App.BaseAddress;
            o.Trust = ServerTrust.FromPem(service.CaPem);
            o.ApiKey = TestApp.AdminKey;
            o.Retry = new RetryPolicy { BaseDelay = TimeSpan.FromMilliseconds(1) };
        }).AddHttpMessageHandler(() => proxy);
        using var provider = services.BuildServiceProvider();
        using var client = provider.GetRequiredService<OrchestratorClient>();

        var page = await client.Agents.ListAsync();

        Assert.NotNull(page.Items);
        Assert.Equal(3, proxy.Requests);
    }

    [Fact]
    public void Options_without_a_server_are_refused_when_the_host_starts()
    {
        var services = new ServiceCollection();
        services.AddOrchestratorClient(o => o.ApiKey = TestApp.AdminKey);
        using var provider = services.BuildServiceProvider();

        var refused = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("Server", refused.Message, StringComparison.Ordinal);
    }
}
