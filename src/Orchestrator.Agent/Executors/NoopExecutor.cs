namespace Orchestrator.Agent.Executors;

/// <summary><c>agent.noop</c>: completes at once (tests, the fleet simulator, checking an agent takes work).</summary>
public sealed class NoopExecutor : IExecutor
{
    public string TaskType => "agent.noop";

    public Task<ExecutionResult> ExecuteAsync(TaskContext context) => Task.FromResult(ExecutionResult.Succeeded(new { noop = true }));
}
