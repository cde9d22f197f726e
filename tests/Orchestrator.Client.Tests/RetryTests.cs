using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Contracts;
using Orchestrator.Testing;

namespace Orchestrator.Client.Tests;

public sealed class RetryTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task A_retry_after_given_as_a_date_is_counted_from_the_clients_clock()
    {
        var now = new DateTimeOffset(2030, 1, 10, 14, 0, 0, TimeSpan.Zero);
        using var response = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(now.AddSeconds(30));

        var failure = await ApiTransport.FailureAsync(response, CancellationToken.None, new FixedClock(now));

        Assert.Equal(TimeSpan.FromSeconds(30), failure.RetryAfter);
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    [Fact]
    public async Task A_read_that_meets_a_failing_proxy_is_retried_until_it_gets_through()
    {
        var proxy = new CountingHandler(service.Options().Trust!) { FailFirst = 2 };
        using var client = new OrchestratorClient(service.Options(), Testing.TestApp.AdminKey, proxy);

        var page = await client.Agents.ListAsync();

        Assert.NotNull(page.Items);
        Assert.Equal(3, proxy.Requests);
    }

    [Fact]
    public async Task A_call_that_is_not_idempotent_is_not_retried()
    {
        var proxy = new CountingHandler(service.Options().Trust!) { FailFirst = 1 };
        using var client = new OrchestratorClient(service.Options(), Testing.TestApp.AdminKey, proxy);

        var failed = await Assert.ThrowsAsync<OrchestratorApiException>(() => client.RegistrationTokens.CreateAsync());

        Assert.Equal(HttpStatusCode.BadGateway, failed.Status);
        Assert.Equal(1, proxy.Requests);
    }

    [Fact]
    public async Task Task_creation_with_an_idempotency_key_is_retried_and_creates_one_task()
    {
        var proxy = new CountingHandler(service.Options().Trust!) { FailFirst = 1, FailWith = HttpStatusCode.GatewayTimeout };
        using var client = new OrchestratorClient(service.Options(), Testing.TestApp.AdminKey, proxy);
        var agent = await Testing.TestAgents.RegisterAgentAsync(service.App);

        var task = await client.Tasks.CreateAsync(new CreateTaskRequest("agent.noop", null, null, null, null, agent.Id, null, $"k-{Guid.NewGuid():N}"));

        Assert.Equal(2, proxy.Requests);
        var tasks = await client.Tasks.ListAsync(agentId: agent.Id);
        Assert.Equal(task.TaskId, Assert.Single(tasks.Items).TaskId);
    }

    [Fact]
    public async Task Task_creation_without_an_idempotency_key_is_not_retried()
    {
        var proxy = new CountingHandler(service.Options().Trust!) { FailFirst = 1, FailWith = HttpStatusCode.GatewayTimeout };
        using var client = new OrchestratorClient(service.Options(), Testing.TestApp.AdminKey, proxy);
        var agent = await Testing.TestAgents.RegisterAgentAsync(service.App);

        var failed = await Assert.ThrowsAsync<OrchestratorApiException>(() =>
            client.Tasks.CreateAsync(new CreateTaskRequest("agent.noop", null, null, null, null, agent.Id, null, IdempotencyKey: null)));

        Assert.Equal(HttpStatusCode.GatewayTimeout, failed.Status);
        Assert.Equal(1, proxy.Requests);
        Assert.Empty((await client.Tasks.ListAsync(agentId: agent.Id)).Items);
    }

    /// <summary>Both ways of making a client (<c>new</c>, and <c>AddOrchestratorClient</c>) share the pipeline and its clock.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_503_with_retry_after_is_retried_once_the_wait_the_server_asked_for_has_passed_on_the_clients_clock(bool fromServices)
    {
        var clock = new WatchedTime(DateTimeOffset.UtcNow);
        var options = service.Options() with
        {
            Time = clock,
            Retry = new RetryPolicy { BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMinutes(1) },
        };
        // The API's own "come back in 30 s" (problem details with Retry-After), once.
        var proxy = fromServices ? new CountingHandler { FailFirst = 1 } : new CountingHandler(options.Trust!) { FailFirst = 1 };
        proxy.AnswerAsTheApi(HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(30));
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
        services.AddOrchestratorClient(o => (o.Server, o.Trust, o.Time, o.Retry, o.ApiKey) =
            (options.Server, options.Trust, options.Time, options.Retry, Testing.TestApp.AdminKey)).AddHttpMessageHandler(() => proxy);
        using var provider = services.BuildServiceProvider();
        using var client = fromServices
            ? provider.GetRequiredService<OrchestratorClient>()
            : new OrchestratorClient(options, Testing.TestApp.AdminKey, proxy);

        var listing = client.Agents.ListAsync();

        Assert.Equal(TimeSpan.FromSeconds(30), await clock.NextWaitAsync());
        clock.Advance(TimeSpan.FromSeconds(29));
        Assert.False(listing.IsCompleted);
        Assert.Equal(1, proxy.Requests);
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.NotNull((await listing).Items);
        Assert.Equal(2, proxy.Requests);
    }

    [Fact]
    public async Task Retries_give_up_after_the_policy_attempts_with_the_last_failure()
    {
        var proxy = new CountingHandler(service.Options().Trust!) { FailFirst = 100 };
        using var client = new OrchestratorClient(service.Options() with { Retry = new RetryPolicy { MaxAttempts = 3, BaseDelay = TimeSpan.FromMilliseconds(1) } },
            Testing.TestApp.AdminKey, proxy);

        var failed = await Assert.ThrowsAsync<OrchestratorApiException>(() => client.Agents.ListAsync());

        Assert.Equal(HttpStatusCode.BadGateway, failed.Status);
        Assert.Equal(3, proxy.Requests);
    }
}

public sealed class BackoffTests
{
    [Theory]
    [InlineData(1, 100)]
    [InlineData(2, 200)]
    [InlineData(4, 800)]
    [InlineData(10, 5000)]
    public void The_ceiling_doubles_per_attempt_up_to_the_cap(int attempt, int expectedMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), Backoff.Ceiling(attempt, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5)));

    [Fact]
    public void Jittered_waits_spread_over_the_whole_range_below_the_ceiling()
    {
        var random = new Random(7);
        var waits = Enumerable.Range(0, 1000).Select(_ => Backoff.Jittered(3, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5), random)).ToList();

        Assert.All(waits, w => Assert.InRange(w, TimeSpan.Zero, TimeSpan.FromMilliseconds(400)));
        Assert.Contains(waits, w => w < TimeSpan.FromMilliseconds(100));
        Assert.Contains(waits, w => w > TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_server_retry_after_longer_than_the_jitter_wins_but_never_past_the_cap()
    {
        var policy = new RetryPolicy { BaseDelay = TimeSpan.FromMilliseconds(10), MaxDelay = TimeSpan.FromSeconds(5) };

        Assert.Equal(TimeSpan.FromSeconds(2), policy.DelayFor(1, TimeSpan.FromSeconds(2)));
        Assert.Equal(TimeSpan.FromSeconds(5), policy.DelayFor(1, TimeSpan.FromSeconds(60)));
    }

    [Theory]
    [InlineData(HttpStatusCode.BadGateway, false, false, true)]
    [InlineData(HttpStatusCode.GatewayTimeout, false, true, true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, false, true, false)]
    [InlineData(HttpStatusCode.ServiceUnavailable, true, true, true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, false, false, true)]
    [InlineData(HttpStatusCode.TooManyRequests, false, true, false)]
    [InlineData(HttpStatusCode.TooManyRequests, true, true, true)]
    [InlineData(HttpStatusCode.Conflict, false, true, false)]
    [InlineData(HttpStatusCode.InternalServerError, false, true, false)]
    public void Only_answers_that_mean_come_back_later_are_transient(HttpStatusCode status, bool retryAfter, bool fromApi, bool transient) =>
        Assert.Equal(transient, RetryPolicy.IsTransient(status, retryAfter, fromApi));
}
