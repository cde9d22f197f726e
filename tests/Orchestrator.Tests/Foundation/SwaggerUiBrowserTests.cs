using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Orchestrator.Hosting;
using Orchestrator.Testing;

namespace Orchestrator.Tests.Foundation;

/// <summary>Issue 23, item 3: Swagger UI as an operator meets it, in a real headless Chromium (the
/// <c>chromium-headless-shell</c> package; .ci/run installs it and exports its path): the page renders the operator
/// groups before the agent's, "Try it out" pre-fills a request body from its example, and one call made through the
/// page with an API key entered in "Authorize" succeeds. Driven over the Chrome DevTools Protocol.</summary>
public sealed partial class SwaggerUiBrowserTests
{
    /// <summary>The headless Chromium binary.</summary>
    public const string ChromiumVariable = "ORCHESTRATOR_CHROMIUM";

    /// <summary>Swagger UI's element of the create-token operation (tag and operation id, spaces as underscores).</summary>
    private const string CreateToken = "#operations-Registration_tokens-createRegistrationToken";

    [SkippableFact]
    public async Task Swagger_ui_renders_pre_fills_an_example_and_makes_a_call_with_the_key_entered_in_authorize()
    {
        var chromium = Environment.GetEnvironmentVariable(ChromiumVariable);
        Assert.False(string.IsNullOrEmpty(chromium) && Environment.GetEnvironmentVariable("CI") == "true", $"{ChromiumVariable} is not set.");
        Skip.If(string.IsNullOrEmpty(chromium) || !File.Exists(chromium), $"{ChromiumVariable} does not name chromium-headless-shell.");
        await using var app = await TestApp.StartAsync(DatabaseProvider.Sqlite);
        await app.RegisterAgentAsync(name: "browser-agent");
        await using var browser = await Browser.StartAsync(chromium!);

        await browser.NavigateAsync(new Uri(app.BaseAddress, "/swagger/index.html"));
        await browser.UntilAsync("document.querySelectorAll('.opblock').length > 30", "the operations to render");
        var groups = await browser.EvaluateAsync<string>(
            "JSON.stringify([...document.querySelectorAll('.opblock-tag')].map(t => t.getAttribute('data-tag')))");
        // An operator enters the key as Swagger UI's own "Authorize" dialog would store it.
        await browser.EvaluateAsync<bool>($"ui.preauthorizeApiKey('ApiKey', '{TestApp.AdminKey}') !== undefined");

        await browser.ClickAsync($"{CreateToken} .opblock-summary-control");
        await browser.ClickAsync($"{CreateToken} .try-out__btn");
        await browser.UntilAsync($"!!document.querySelector('{CreateToken} textarea.body-param__text')", "the pre-filled body");
        var prefilled = await browser.EvaluateAsync<string>($"document.querySelector('{CreateToken} textarea.body-param__text').value");
        await browser.ClickAsync($"{CreateToken} .execute");
        var answer = $"{CreateToken} .live-responses-table tbody .response-col_status";
        await browser.UntilAsync($"!!document.querySelector('{answer}')", "the call's answer");
        var status = await browser.EvaluateAsync<string>($"document.querySelector('{answer}').textContent");

        var tags = JsonSerializer.Deserialize<string[]>(groups)!;
        Assert.Contains("Registration tokens", tags);
        Assert.True(Array.FindLastIndex(tags, t => !t.StartsWith("Agent API", StringComparison.Ordinal)) <
                    Array.FindIndex(tags, t => t.StartsWith("Agent API", StringComparison.Ordinal)), string.Join(", ", tags));
        Assert.Contains("web fleet, eu-1", prefilled);
        Assert.Equal("201", status.Trim());
        var tokens = await (await app.AdminClient().GetAsync("/api/v1/registration-tokens")).ShouldBe(System.Net.HttpStatusCode.OK);
        Assert.Contains(tokens.EnumerateArray(), t => t.GetProperty("description").GetString() == "web fleet, eu-1");
    }

    /// <summary>One headless Chromium of this test's own (its own profile directory), stopped by its PID, and one page
    /// driven over the DevTools Protocol.</summary>
    private sealed partial class Browser : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly ClientWebSocket _socket = new();
        private readonly string _profile;
        private int _nextId;

        private Browser(Process process, string profile)
        {
            _process = process;
            _profile = profile;
        }

        public static async Task<Browser> StartAsync(string chromium)
        {
            var profile = Directory.CreateTempSubdirectory("orch-chromium-").FullName;
            var start = new ProcessStartInfo(chromium) { RedirectStandardError = true, RedirectStandardOutput = true };
            // The test service's certificate is issued by its own fresh CA; the page is a test's, not a user's browsing.
            foreach (var argument in new[]
                     {
                         "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--remote-debugging-port=0",
                         $"--user-data-dir={profile}", "about:blank",
                     })
            {
                start.ArgumentList.Add(argument);
            }

            var browser = new Browser(Process.Start(start)!, profile);
            using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            string? line;
            while ((line = await browser._process.StandardError.ReadLineAsync(bounded.Token)) is not null)
            {
                if (DevToolsAddress().Match(line) is { Success: true } found)
                {
                    var page = await PageAddressAsync(new Uri(found.Groups[1].Value));
                    await browser._socket.ConnectAsync(page, bounded.Token);
                    _ = browser._process.StandardError.ReadToEndAsync(CancellationToken.None);
                    return browser;
                }
            }

            throw new InvalidOperationException("Chromium ended without opening its DevTools endpoint.");
        }

        /// <summary>Clicks the element once it is there (Swagger UI renders what it expands a moment later).</summary>
        public async Task ClickAsync(string selector)
        {
            await UntilAsync($"!!document.querySelector('{selector}')", selector);
            await EvaluateAsync<bool>($"(() => {{ document.querySelector('{selector}').click(); return true; }})()");
        }

        public Task NavigateAsync(Uri page) => SendAsync("Page.navigate", new JsonObject { ["url"] = page.ToString() });

        /// <summary>Evaluates <paramref name="expression"/> in the page until it is true (the page renders as it likes).</summary>
        public Task UntilAsync(string expression, string what) =>
            Poll.Until(async () => await EvaluateAsync<bool>(expression), what, TimeSpan.FromSeconds(30));

        public async Task<T> EvaluateAsync<T>(string expression)
        {
            var answer = await SendAsync("Runtime.evaluate",
                new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
            var result = answer["result"]!;
            if (answer["exceptionDetails"] is { } exception)
            {
                throw new InvalidOperationException($"{expression}: {exception.ToJsonString()}");
            }

            return result["value"] is { } value ? value.GetValue<T>() : default!;
        }

        public async ValueTask DisposeAsync()
        {
            _socket.Dispose();
            // The whole tree: Debian's chromium-headless-shell is a script that starts the browser, which starts its
            // zygotes, renderer and GPU process; killing the script alone left the browser running.
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();

            _process.Dispose();
            Directory.Delete(_profile, recursive: true);
        }

        private static async Task<Uri> PageAddressAsync(Uri browserEndpoint)
        {
            using var http = new HttpClient();
            var list = await http.GetStringAsync(new Uri($"http://{browserEndpoint.Authority}/json/list"));
            var page = JsonNode.Parse(list)!.AsArray().First(t => t!["type"]!.GetValue<string>() == "page")!;
            return new Uri(page["webSocketDebuggerUrl"]!.GetValue<string>());
        }

        private async Task<JsonNode> SendAsync(string method, JsonObject parameters)
        {
            var id = ++_nextId;
            var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters }.ToJsonString();
            using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _socket.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, bounded.Token);
            var buffer = new byte[1 << 16];
            while (true)
            {
                using var received = new MemoryStream();
                WebSocketReceiveResult part;
                do
                {
                    part = await _socket.ReceiveAsync(buffer, bounded.Token);
                    received.Write(buffer, 0, part.Count);
                }
                while (!part.EndOfMessage);

                var answer = JsonNode.Parse(received.ToArray())!;
                if (answer["id"]?.GetValue<int>() != id)
                {
                    continue; // an event of the page's, or nothing this test waits for
                }

                return answer["error"] is { } error
                    ? throw new InvalidOperationException($"{method}: {error.ToJsonString()}")
                    : answer["result"]!;
            }
        }

        [GeneratedRegex("DevTools listening on (ws://\\S+)")]
        private static partial Regex DevToolsAddress();
    }
}
