using System.Reflection;
using Orchestrator.Hosting;
using Xunit.Sdk;

namespace Orchestrator.Testing;

/// <summary>Runs a storage test once on SQLite and once on PostgreSQL. Use with <c>[SkippableTheory]</c>.</summary>
public sealed class BothProvidersAttribute : DataAttribute
{
    public override IEnumerable<object[]> GetData(MethodInfo testMethod) =>
    [
        [DatabaseProvider.Sqlite],
        [DatabaseProvider.Postgres],
    ];
}
