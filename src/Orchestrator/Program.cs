using Orchestrator.Agents;
using Orchestrator.ApiKeys;
using Orchestrator.Audit;
using Orchestrator.Certificates;
using Orchestrator.Data;
using Orchestrator.Health;
using Orchestrator.Hosting;
using Orchestrator.Housekeeping;
using Orchestrator.Http;
using Orchestrator.Observability;
using Orchestrator.Registration;
using Orchestrator.Rollouts;
using Orchestrator.Security;
using Orchestrator.Streams;
using Orchestrator.Targets;
using Orchestrator.Tasks;
using Orchestrator.Web;

// `Orchestrator reset-admin-key` runs one maintenance command against the configured storage instead of the server.
var command = args is [ResetAdminKeyCommand.Verb, ..] ? args[0] : null;
var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = command is null ? args : args[1..],
    // Settings and the default data directory sit beside the binary, wherever the service is started from.
    ContentRootPath = AppContext.BaseDirectory,
});

// Each AddXxx binds and validates its feature's settings and registers its services. Hosted services start in this
// order: the database is migrated before anything reads it, and the CA is loaded before anything signs.
builder.ConfigureOrchestratorKestrel();
builder.Services.AddOrchestratorLogging();
builder.Services.AddOrchestratorHosting();
builder.Services.AddOrchestratorData();
builder.Services.AddHousekeeping();
builder.Services.AddClusterEvents();
builder.Services.AddOrchestratorDataProtection();
builder.Services.AddCertificates();
builder.Services.AddOrchestratorHttp();
builder.Services.AddApiKeys();
builder.Services.AddForwardedClientCertificates();
builder.Services.AddRegistration();
builder.Services.AddAudit();
builder.Services.AddAgents();
builder.Services.AddTasks();
builder.Services.AddRollouts();
builder.Services.AddTaskStreams();
builder.Services.AddOrchestratorHealthChecks();
builder.AddObservability();
builder.Services.AddOrchestratorSwagger();

var app = builder.Build();
if (command is not null)
{
    return await ResetAdminKeyCommand.RunAsync(app.Services, Console.Out, Console.Error, CancellationToken.None);
}

// Request logging outermost, so its line carries the status the client finally got.
app.UseOrchestratorRequestLogging();
app.UseOrchestratorResponseHeaders();
app.UseOrchestratorHsts();
app.UseOrchestratorProblemDetails();
app.UseRequestTextRules();
if (app.Configuration.GetValue("Orchestrator:SwaggerEnabled", true))
{
    app.UseOrchestratorSwagger();
}

app.UseForwardedClientCertificates();
app.UseWebSockets();
app.UseAuthentication();
app.UseAuthorization();
app.UseRegistrationRateLimit();

app.MapHealth();
app.MapMetrics();
app.MapApiKeys();
app.MapAudit();
app.MapCertificateAuthority();
app.MapRegistrationTokens();
app.MapRegister();
app.MapAgents();
app.MapTargets();
app.MapTasks();
app.MapRollouts();

// The agent's own routes: one group, /api/v1/agents/{id}/…, that each feature adds to.
var agent = app.MapAgentRoutes();
agent.MapHeartbeat();
agent.MapAgentCredentials();
agent.MapAgentTasks();
agent.MapTaskStream();

try
{
    app.Run();
}
catch (Exception ex) when (ex is not HostAbortedException)
{
    // A bad setting ends here: put the reason first, above the stack trace.
    Console.Error.WriteLine($"Orchestrator failed to start: {ex.Message}");
    throw;
}

return 0;

public partial class Program;
