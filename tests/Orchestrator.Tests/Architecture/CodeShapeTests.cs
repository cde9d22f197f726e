using Orchestrator.Testing;

namespace Orchestrator.Tests.Architecture;

/// <summary>What .editorconfig cannot say and review should not have to: lines fit a screen. It covers the service and
/// eng/; the other projects and tests/ follow as their owners wrap theirs (add them to <see cref="Checked"/>).</summary>
public sealed class CodeShapeTests
{
    public const int MaxLineLength = 150;

    private static readonly string[] Checked = [Path.Combine("src", "Orchestrator"), "eng"];

    [Fact]
    public void No_line_of_code_is_longer_than_150_characters()
    {
        var root = Repository.Root;
        var tooLong = new List<string>();
        foreach (var folder in Checked.Select(f => Path.Combine(root, f)).Where(Directory.Exists))
        {
            foreach (var file in Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(root, file);
                var parts = relative.Split(Path.DirectorySeparatorChar);
                // Build output, and migrations and compiled models, which EF generates.
                if (parts.Contains("bin") || parts.Contains("obj") || parts.Contains("Migrations") || parts.Contains("CompiledModels"))
                {
                    continue;
                }

                var lines = File.ReadAllLines(file);
                for (var i = 0; i < lines.Length; i++)
                {
                    if (lines[i].Length > MaxLineLength)
                    {
                        tooLong.Add($"{relative}:{i + 1} has {lines[i].Length} characters");
                    }
                }
            }
        }

        Assert.True(tooLong.Count == 0, $"Lines over {MaxLineLength} characters:\n" + string.Join("\n", tooLong));
    }
}
