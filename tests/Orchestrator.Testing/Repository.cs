namespace Orchestrator.Testing;

/// <summary>The checkout the tests run from, for tests that read its sources and docs.</summary>
public static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Orchestrator.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (Orchestrator.sln) was not found above " + AppContext.BaseDirectory);
    }
}
