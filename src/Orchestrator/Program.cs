using Orchestrator.Agents;
using Orchestrator.ApiKeys;
using Orchestrator.Audit;
using Orchestrator.Certificates;
using Orchestrator.Cluster;
using Orchestrator.Data;
using Orchestrator.Health;
using Orchestrator.Hosting;
using Orchestrator.Http;
using Orchestrator.Registration;
using Orchestrator.Security;
using Orchestrator.Streams;
using Orchestrator.Targets;
using Orchestrator.Tasks;

var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = args,
    // Settings and the default data directory sit beside the binary, wherever the service is started from.
    ContentRootPath = AppContext.BaseDirectory,
});

builder.ConfigureOrchestratorKestrel();
builder.Services.AddOrchestratorLogging();
builder.Services.AddOrchestratorOptions();
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddOrchestratorData();
builder.Services.AddClusterEvents();
builder.Services.AddOrchestratorDataProtection();
builder.Services.AddCertificateAuthority();
builder.Services.ConfigureHttpJsonOptions(options => Json.Configure(options.SerializerOptions));
builder.Services.AddOrchestratorProblemDetails();
builder.Services.AddAuthentication()
    .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
builder.Services.AddOrchestratorAuthorization();
builder.Services.AddAgentAuthentication();
builder.Services.AddForwardedClientCertificates();
builder.Services.AddRegistration();
builder.Services.AddScoped<AuditLog>();
builder.Services.AddHostedService<BootstrapAdminKey>();
builder.Services.AddAgents();
builder.Services.AddTasks();
builder.Services.AddTaskStreams();
builder.Services.AddOrchestratorHealthChecks();
builder.Services.AddOrchestratorSwagger();

var app = builder.Build();

// Request logging outermost, so its line carries the status the client finally got.
app.UseOrchestratorRequestLogging();
app.UseOrchestratorProblemDetails();
if (app.Configuration.GetValue("Orchestrator:SwaggerEnabled", true))
{
    app.UseOrchestratorSwagger();
}

app.UseForwardedClientCertificates();
app.UseWebSockets();
app.UseAuthentication();
app.UseAuthorization();
app.UseRateLimiter();

app.MapHealth();
app.MapApiKeys();
app.MapAudit();
app.MapCertificateAuthority();
app.MapAgentCredentials();
app.MapRegistrationTokens();
app.MapRegister();
app.MapAgents();
app.MapTargets();
app.MapTasks();
app.MapAgentTasks();
app.MapTaskStreams();

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

public partial class Program;
