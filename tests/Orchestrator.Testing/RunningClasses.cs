using System.Reflection;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Orchestrator.Testing;

/// <summary>The test classes of this process that have started and not yet ended, as xunit reports them
/// (<see cref="CountingTestFramework"/>): a heavy test can wait until every class but the ones it may run beside has
/// ended, instead of running alone after all of them.</summary>
public static class RunningClasses
{
    private static readonly Lock Gate = new();
    // A class runs once per process, so its name is enough: started adds it, finished removes it.
    private static readonly HashSet<string> Running = new(StringComparer.Ordinal);
    private static TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Set when CountingTestFramework runs this process's tests, so a project without it fails at once, not on a timeout.
    private static volatile bool _counted;

    internal static void Counted() => _counted = true;

    internal static void Started(string className) => Change(() => Running.Add(className));

    internal static void Ended(string className) => Change(() => Running.Remove(className));

    private static void Change(Action change)
    {
        TaskCompletionSource changed;
        lock (Gate)
        {
            change();
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }

    /// <summary>Returns once no class is running but <paramref name="self"/> and <paramref name="besides"/>; fails naming
    /// the classes still running after <paramref name="timeout"/>. Classes that have not started are not waited for: the
    /// caller's collection starts last (<see cref="StartsLastAttribute"/>), after every other has started. xunit hands
    /// its messages to the sink on a thread of their own, in the order they were sent, so a test can begin before its own
    /// class is reported started (a CI run under load saw that): it first waits for that report, after which every class
    /// that started before it has been reported too.</summary>
    public static async Task OthersEndedAsync(Type self, IEnumerable<Type> besides, TimeSpan timeout)
    {
        Assert.True(_counted,
            $"{self.Name} cannot tell which classes run: its test assembly needs [assembly: TestFramework(CountingTestFramework…)].");
        var allowed = besides.Append(self).Select(t => t.FullName!).ToHashSet(StringComparer.Ordinal);
        using var timedOut = new CancellationTokenSource(timeout);
        while (true)
        {
            string[] others;
            bool selfReported;
            Task changed;
            lock (Gate)
            {
                selfReported = Running.Contains(self.FullName!);
                others = [.. Running.Where(name => !allowed.Contains(name))];
                changed = _changed.Task;
            }

            if (selfReported && others.Length == 0)
            {
                return;
            }

            try
            {
                await changed.WaitAsync(timedOut.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail(selfReported
                    ? $"These test classes did not end within {timeout}: {string.Join(", ", others)}."
                    : $"xunit did not report {self.Name} started within {timeout}.");
            }
        }
    }
}

/// <summary>xunit's own test framework, with the test classes that start and end counted in
/// <see cref="RunningClasses"/> (from the execution messages xunit sends anyway). A test project opts in with
/// <c>[assembly: TestFramework(CountingTestFramework.TypeName, CountingTestFramework.AssemblyName)]</c>.</summary>
public sealed class CountingTestFramework(IMessageSink diagnostics) : XunitTestFramework(diagnostics)
{
    public const string TypeName = "Orchestrator.Testing.CountingTestFramework";
    public const string AssemblyName = "Orchestrator.Testing";

    protected override ITestFrameworkExecutor CreateExecutor(AssemblyName assemblyName) =>
        new Executor(assemblyName, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Executor(AssemblyName assemblyName, ISourceInformationProvider sourceInformation, IMessageSink diagnostics)
        : XunitTestFrameworkExecutor(assemblyName, sourceInformation, diagnostics)
    {
        protected override void RunTestCases(IEnumerable<IXunitTestCase> testCases, IMessageSink executionMessageSink,
            ITestFrameworkExecutionOptions executionOptions) =>
            base.RunTestCases(testCases, new Counting(executionMessageSink), executionOptions);
    }

    private sealed class Counting : LongLivedMarshalByRefObject, IMessageSink
    {
        private readonly IMessageSink _inner;

        public Counting(IMessageSink inner)
        {
            _inner = inner;
            RunningClasses.Counted();
        }

        public bool OnMessage(IMessageSinkMessage message)
        {
            switch (message)
            {
                case ITestClassStarting starting:
                    RunningClasses.Started(starting.TestClass.Class.Name);
                    break;
                case ITestClassFinished finished:
                    RunningClasses.Ended(finished.TestClass.Class.Name);
                    break;
            }

            return _inner.OnMessage(message);
        }
    }
}
