using System.Net.Http.Json;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Client.Tests;

/// <summary>One real service (Kestrel, TLS, SQLite) shared by a test class; each test makes its own agents and tasks.</summary>
public sealed class ServiceFixture : IAsyncLifetime
{
    public TestApp App { get; private set; } = null!;
    public string CaPem { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        App = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        CaPem = await App.Client().GetStringAsync("/api/v1/ca");
    }

    public OrchestratorClientOptions Options(RetryPolicy? retry = null) => new()
    {
        Server = App.BaseAddress,
        Trust = ServerTrust.FromPem(CaPem),
        Retry = retry ?? RetryPolicy.Default with { BaseDelay = TimeSpan.FromMilliseconds(10) },
    };

    public OrchestratorClient Operator(string? apiKey = TestApp.AdminKey) => new(Options(), apiKey);

    public async Task<string> RegistrationTokenAsync()
    {
        var response = await App.AdminClient().PostAsJsonAsync("/api/v1/registration-tokens", new { });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("token").GetString()!;
    }

    public async Task DisposeAsync() => await App.DisposeAsync();
}
