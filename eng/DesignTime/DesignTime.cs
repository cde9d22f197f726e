namespace Orchestrator.DesignTime;

/// <summary>Never run: <c>dotnet ef</c> only loads this project to reach the design-time tools.</summary>
public static class DesignTime
{
    public static void Main()
    {
    }
}
