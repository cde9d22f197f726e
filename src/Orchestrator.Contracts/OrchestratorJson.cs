using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orchestrator.Contracts;

/// <summary>The API's JSON rules, generated at compile time: camelCase names, dictionary keys as given, string enums
/// (unknown names fail), and nothing lenient (numbers are numbers).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    NumberHandling = JsonNumberHandling.Strict,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    PropertyNameCaseInsensitive = false)]
[JsonSerializable(typeof(RegisterRequest))]
[JsonSerializable(typeof(RegisterResponse))]
[JsonSerializable(typeof(CreateTokenRequest))]
[JsonSerializable(typeof(CreatedTokenResponse))]
[JsonSerializable(typeof(List<TokenResponse>))]
[JsonSerializable(typeof(DeletedResponse))]
[JsonSerializable(typeof(List<AgentSummary>))]
[JsonSerializable(typeof(AgentDetails))]
[JsonSerializable(typeof(UpdateAgentRequest))]
[JsonSerializable(typeof(DrainRequest))]
[JsonSerializable(typeof(HeartbeatRequest))]
[JsonSerializable(typeof(HeartbeatResponse))]
[JsonSerializable(typeof(RenewRequest))]
[JsonSerializable(typeof(RenewalResponse))]
[JsonSerializable(typeof(IdentityResponse))]
[JsonSerializable(typeof(CreateTaskRequest))]
[JsonSerializable(typeof(TaskResponse))]
[JsonSerializable(typeof(List<TaskResponse>))]
[JsonSerializable(typeof(CompleteTaskRequest))]
[JsonSerializable(typeof(AcknowledgedResponse))]
[JsonSerializable(typeof(PendingTasksResponse))]
[JsonSerializable(typeof(AgentTaskResponse))]
[JsonSerializable(typeof(TaskAssignedMessage))]
[JsonSerializable(typeof(TaskCancelledMessage))]
[JsonSerializable(typeof(StreamErrorMessage))]
[JsonSerializable(typeof(TaskProgressMessage))]
[JsonSerializable(typeof(TaskLogMessage))]
[JsonSerializable(typeof(TaskStatusEvent))]
[JsonSerializable(typeof(TaskProgressEvent))]
[JsonSerializable(typeof(TaskLogResponse))]
[JsonSerializable(typeof(CreateRolloutRequest))]
[JsonSerializable(typeof(RolloutResponse))]
[JsonSerializable(typeof(List<RolloutResponse>))]
[JsonSerializable(typeof(RolloutStatusEvent))]
[JsonSerializable(typeof(RolloutBatchEvent))]
[JsonSerializable(typeof(RolloutTargetEvent))]
[JsonSerializable(typeof(CreateApiKeyRequest))]
[JsonSerializable(typeof(CreatedApiKeyResponse))]
[JsonSerializable(typeof(List<ApiKeyResponse>))]
[JsonSerializable(typeof(CreateTargetRequest))]
[JsonSerializable(typeof(TargetResponse))]
[JsonSerializable(typeof(List<TargetResponse>))]
[JsonSerializable(typeof(List<AuditEventResponse>))]
[JsonSerializable(typeof(RotatedResponse))]
[JsonSerializable(typeof(ProblemDocument))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(Dictionary<string, string>))]
public sealed partial class OrchestratorJsonContext : JsonSerializerContext;
