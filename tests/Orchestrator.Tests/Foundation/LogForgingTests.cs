using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orchestrator.Hosting;
using Orchestrator.Testing;
using Orchestrator.Web;
using Serilog.Formatting.Display;

namespace Orchestrator.Tests.Foundation;

/// <summary>CWE-117: a value that reaches the log (a request path, a name) cannot start a line of its own.</summary>
public sealed class LogForgingTests(SharedApps apps) : IClassFixture<SharedApps>
{
    [SkippableFact]
    public async Task A_request_path_with_a_line_break_is_logged_escaped_on_one_line()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var marker = Guid.NewGuid().ToString("N");

        await app.Client().GetAsync($"/health/{marker}%0A%5B12:00:00%20ERR%5D%20Orchestrator:%20admin%20key%20leaked");

        var line = Assert.Single(app.Logs.Events, e => e.Properties.TryGetValue("RequestPath", out var path) && path.ToString().Contains(marker));
        var rendered = Render(line);
        Assert.DoesNotContain('\n', rendered.TrimEnd('\n'));
        Assert.Contains($@"/health/{marker}\n[12:00:00 ERR] Orchestrator:", rendered);
    }

    [SkippableFact]
    public async Task Every_logged_value_has_its_control_characters_escaped_whoever_logs_it()
    {
        var app = await apps.For(DatabaseProvider.Sqlite);
        var category = $"Orchestrator.Anything{Guid.NewGuid():N}";
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(category);

        logger.LogWarning("Actor {Actor} did {What} to {Targets}", "apikey:ci\r\n[12:00:00 ERR] forged", "ansi\u001b[31mred\tbell\u0007",
            new[] { "sep\u2028line", "next\u0085line" });

        var line = Assert.Single(app.Logs.Events, e => e.Properties.TryGetValue("SourceContext", out var source) && source.ToString().Contains(category));
        var rendered = Render(line).TrimEnd('\n');
        Assert.DoesNotContain(rendered, c => char.IsControl(c) || c is '\u2028' or '\u2029');
        Assert.Contains(@"apikey:ci\r\n[12:00:00 ERR] forged", rendered);
        Assert.Contains(@"ansi\u001b[31mred\tbell\u0007", rendered);
        // Inside a list Serilog quotes each value and doubles its backslashes.
        Assert.Contains(@"sep\\u2028line", rendered);
        Assert.Contains(@"next\\u0085line", rendered);
    }

    /// <summary>The event as the service's console sink writes it.</summary>
    private static string Render(Serilog.Events.LogEvent logEvent)
    {
        using var text = new StringWriter();
        new MessageTemplateTextFormatter(Logging.ConsoleTemplate).Format(logEvent, text);
        return text.ToString();
    }
}
