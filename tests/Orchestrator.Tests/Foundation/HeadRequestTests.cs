using System.Net;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Foundation;

/// <summary>HEAD, as monitors and <c>curl -I</c> send it, over both HTTP versions curl and browsers use: the trust bundle
/// answers it, and every other answer (an error included) is a status and headers without a body, which HTTP/2 clients
/// otherwise refuse as a protocol error.</summary>
public sealed class HeadRequestTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableTheory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task Head_of_the_trust_bundle_answers_like_its_get_without_the_body(string version)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        using var response = await app.Client().SendAsync(Head("/api/v1/ca", version));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Version.Parse(version), response.Version);
        Assert.Equal("application/x-pem-file", response.Content.Headers.ContentType?.MediaType);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [SkippableTheory]
    [InlineData("/api/v1/no-such-thing", HttpStatusCode.NotFound)]
    [InlineData("/api/v1/agents", HttpStatusCode.MethodNotAllowed)]
    public async Task Head_of_anything_else_over_http2_is_a_readable_status_without_a_body(string path, HttpStatusCode status)
    {
        var app = await apps.For(DatabaseProvider.Sqlite);

        using var response = await app.Client().SendAsync(Head(path, "2.0"));

        Assert.Equal(status, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    private static HttpRequestMessage Head(string path, string version) => new(HttpMethod.Head, path)
    {
        Version = Version.Parse(version),
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };
}
