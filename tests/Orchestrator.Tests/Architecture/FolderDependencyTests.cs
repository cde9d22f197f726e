using System.Reflection;
using System.Reflection.Emit;
using System.Text.RegularExpressions;
using Orchestrator.Testing;
using Xunit.Abstractions;

namespace Orchestrator.Tests.Architecture;

/// <summary>Keeps docs/architecture.md true: each folder of the service is one namespace, and a folder only depends
/// on folders below it in the documented layers, so no folder depends on one that depends on it. Dependencies are
/// read from the compiled assembly (signatures, attributes and every type, method and field the IL names), so a
/// fully qualified name or a lambda cannot hide one, and from the sources' <c>using</c> directives and qualified names,
/// which also catch constants (the compiler copies those into the IL).</summary>
public sealed partial class FolderDependencyTests(ITestOutputHelper output)
{
    private static readonly Assembly Service = typeof(Program).Assembly;

    [Fact]
    public void No_folder_depends_on_a_folder_that_depends_on_it()
    {
        var graph = FolderGraph();
        var cycles = StronglyConnected(graph.Keys.Concat(graph.Values.SelectMany(v => v.Keys)).Distinct(), graph)
            .Where(c => c.Count > 1)
            .Select(c => string.Join(" <-> ", c) + ": " + string.Join("; ", Evidence(graph, c)))
            .ToList();

        Assert.True(cycles.Count == 0, "Folders that depend on each other:\n" + string.Join("\n", cycles));
    }

    [Fact]
    public void Every_folder_depends_only_on_folders_below_it_in_docs_architecture()
    {
        var layers = DocumentedLayers();
        var graph = FolderGraph();
        foreach (var (from, uses) in graph.OrderBy(g => layers.GetValueOrDefault(g.Key)))
        {
            output.WriteLine($"{from} -> {string.Join(", ", uses.Keys.OrderBy(f => layers.GetValueOrDefault(f)))}");
        }

        var unlisted = graph.Keys.Concat(graph.Values.SelectMany(v => v.Keys)).Distinct().Where(f => !layers.ContainsKey(f)).ToList();
        Assert.True(unlisted.Count == 0, $"Folders missing from the layers in docs/architecture.md: {string.Join(", ", unlisted)}");

        var upward = graph
            .SelectMany(from => from.Value.Select(to => (From: from.Key, To: to.Key, Example: to.Value)))
            .Where(e => layers[e.To] <= layers[e.From])
            .Select(e => $"{e.From} -> {e.To} (not below it), e.g. {e.Example}")
            .ToList();
        Assert.True(upward.Count == 0, "Dependencies against the layers of docs/architecture.md:\n" + string.Join("\n", upward));
    }

    [Fact]
    public void Each_source_file_is_in_the_namespace_of_its_folder()
    {
        var source = Path.Combine(Repository.Root, "src", "Orchestrator");
        var wrong = new List<string>();
        foreach (var (file, folder) in SourceFiles(source))
        {
            var relative = Path.GetRelativePath(source, file);
            var expected = folder.Length == 0 ? null : "Orchestrator." + folder.Replace(Path.DirectorySeparatorChar, '.');
            var text = File.ReadAllText(file);
            var declared = NamespacePattern().Match(text) is { Success: true } m ? m.Groups[1].Value : null;
            // A file of assembly attributes only (EF generates one beside each compiled model) declares no type.
            if (declared != expected && !(declared is null && AssemblyAttributesOnly(text)))
            {
                wrong.Add($"{relative}: namespace {declared ?? "(none)"}, expected {expected ?? "(none)"}");
            }
        }

        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    /// <summary>Folder → folder it uses → one example (<c>Type uses Type</c>).</summary>
    private static Dictionary<string, Dictionary<string, string>> FolderGraph()
    {
        var graph = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        foreach (var type in Service.GetTypes())
        {
            if (FolderOf(type) is not { } from)
            {
                continue;
            }

            foreach (var used in References(type))
            {
                if (FolderOf(used) is { } to && to != from)
                {
                    var edges = graph.TryGetValue(from, out var existing) ? existing : graph[from] = new(StringComparer.Ordinal);
                    edges.TryAdd(to, $"{Outermost(type).FullName} uses {Outermost(used).FullName}");
                }
            }
        }

        var source = Path.Combine(Repository.Root, "src", "Orchestrator");
        foreach (var (file, folder) in SourceFiles(source))
        {
            var top = folder.Split(Path.DirectorySeparatorChar)[0];
            if (top.Length == 0)
            {
                continue;
            }

            foreach (Match used in NamespaceUse().Matches(CodeOf(File.ReadAllText(file))))
            {
                var to = used.Groups[1].Value;
                // Orchestrator.Contracts is the shared contracts assembly, not a folder of the service.
                if (to != top && Directory.Exists(Path.Combine(source, to)))
                {
                    var edges = graph.TryGetValue(top, out var existing) ? existing : graph[top] = new(StringComparer.Ordinal);
                    edges.TryAdd(to, $"{Path.GetRelativePath(source, file)} names Orchestrator.{to}");
                }
            }
        }

        return graph;
    }

    /// <summary>The service's source files (not build output) and the folder each is in, relative to the project.</summary>
    private static IEnumerable<(string File, string Folder)> SourceFiles(string source) =>
        from file in Directory.EnumerateFiles(source, "*.cs", SearchOption.AllDirectories)
        let relative = Path.GetRelativePath(source, file)
        where !relative.StartsWith("bin" + Path.DirectorySeparatorChar, StringComparison.Ordinal) &&
              !relative.StartsWith("obj" + Path.DirectorySeparatorChar, StringComparison.Ordinal)
        select (file, Path.GetDirectoryName(relative)!);

    /// <summary>The folder of a type of the service: the first namespace part after <c>Orchestrator</c>. Program (the
    /// root, which composes everything) and generated helpers outside the service's namespaces have none.</summary>
    private static string? FolderOf(Type type)
    {
        var outer = Outermost(type);
        if (outer.Assembly != Service || outer.Namespace is not { } ns || !ns.StartsWith("Orchestrator.", StringComparison.Ordinal))
        {
            return null;
        }

        return ns.Split('.')[1];
    }

    private static Type Outermost(Type type)
    {
        while (type.DeclaringType is { } declaring)
        {
            type = declaring;
        }

        return type;
    }

    private const BindingFlags Declared =
        BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static IEnumerable<Type> References(Type type)
    {
        var found = new HashSet<Type>();
        void Add(Type? t)
        {
            if (t is null || !found.Add(t))
            {
                return;
            }

            if (t.HasElementType)
            {
                Add(t.GetElementType());
            }

            if (t.IsGenericType && !t.IsGenericTypeDefinition)
            {
                Add(t.GetGenericTypeDefinition());
                foreach (var argument in t.GetGenericArguments())
                {
                    Add(argument);
                }
            }
        }

        void AddAttributes(IEnumerable<CustomAttributeData> attributes)
        {
            foreach (var attribute in attributes)
            {
                Add(attribute.AttributeType);
                foreach (var argument in attribute.ConstructorArguments.Concat(attribute.NamedArguments.Select(n => n.TypedValue)))
                {
                    Add(argument.Value as Type);
                }
            }
        }

        Add(type.BaseType);
        foreach (var implemented in type.GetInterfaces())
        {
            Add(implemented);
        }

        AddAttributes(type.GetCustomAttributesData());
        foreach (var field in type.GetFields(Declared))
        {
            Add(field.FieldType);
            AddAttributes(field.GetCustomAttributesData());
        }

        foreach (var property in type.GetProperties(Declared))
        {
            Add(property.PropertyType);
            AddAttributes(property.GetCustomAttributesData());
        }

        foreach (var method in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
        {
            AddAttributes(method.GetCustomAttributesData());
            if (method is MethodInfo info)
            {
                Add(info.ReturnType);
            }

            foreach (var parameter in method.GetParameters())
            {
                Add(parameter.ParameterType);
                AddAttributes(parameter.GetCustomAttributesData());
            }

            var body = method.GetMethodBody();
            if (body is null)
            {
                continue;
            }

            foreach (var local in body.LocalVariables)
            {
                Add(local.LocalType);
            }

            foreach (var member in MembersNamedBy(method, body.GetILAsByteArray() ?? []))
            {
                switch (member)
                {
                    case Type t:
                        Add(t);
                        break;
                    case FieldInfo f:
                        Add(f.DeclaringType);
                        Add(f.FieldType);
                        break;
                    case MethodBase m:
                        Add(m.DeclaringType);
                        if (m is MethodInfo { IsGenericMethod: true } generic)
                        {
                            foreach (var argument in generic.GetGenericArguments())
                            {
                                Add(argument);
                            }
                        }

                        break;
                }
            }
        }

        return found;
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>The types, fields and methods an IL body names by metadata token.</summary>
    private static IEnumerable<MemberInfo> MembersNamedBy(MethodBase method, byte[] il)
    {
        var typeArguments = method.DeclaringType is { IsGenericType: true } declaring ? declaring.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var position = 0;
        while (position < il.Length)
        {
            short value = il[position++];
            if (value == 0xFE)
            {
                value = (short)(0xFE00 | il[position++]);
            }

            var opCode = OpCodesByValue[value];
            var operand = opCode.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, position)),
                _ => 4,
            };
            if (opCode.OperandType is OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType)
            {
                MemberInfo? member;
                try
                {
                    member = method.Module.ResolveMember(BitConverter.ToInt32(il, position), typeArguments, methodArguments);
                }
                catch (ArgumentException)
                {
                    member = null;
                }

                if (member is not null)
                {
                    yield return member;
                }
            }

            position += operand;
        }
    }

    /// <summary>Tarjan's strongly connected components: each component with more than one folder is a cycle.</summary>
    private static List<List<string>> StronglyConnected(IEnumerable<string> nodes, Dictionary<string, Dictionary<string, string>> graph)
    {
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var components = new List<List<string>>();

        void Visit(string node)
        {
            index[node] = low[node] = index.Count;
            stack.Push(node);
            foreach (var next in graph.TryGetValue(node, out var edges) ? edges.Keys.ToList() : [])
            {
                if (!index.ContainsKey(next))
                {
                    Visit(next);
                    low[node] = Math.Min(low[node], low[next]);
                }
                else if (stack.Contains(next))
                {
                    low[node] = Math.Min(low[node], index[next]);
                }
            }

            if (low[node] == index[node])
            {
                var component = new List<string>();
                string member;
                do
                {
                    member = stack.Pop();
                    component.Add(member);
                }
                while (member != node);
                components.Add(component);
            }
        }

        foreach (var node in nodes.Order(StringComparer.Ordinal))
        {
            if (!index.ContainsKey(node))
            {
                Visit(node);
            }
        }

        return components;
    }

    private static IEnumerable<string> Evidence(Dictionary<string, Dictionary<string, string>> graph, List<string> component) =>
        from folder in component
        from edge in graph.TryGetValue(folder, out var edges) ? edges : []
        where component.Contains(edge.Key)
        select $"{folder} -> {edge.Key} ({edge.Value})";

    /// <summary>The layers listed in docs/architecture.md's <c>layers</c> block, top first: folder → rank.</summary>
    private static Dictionary<string, int> DocumentedLayers()
    {
        var document = File.ReadAllText(Path.Combine(Repository.Root, "docs", "architecture.md"));
        var block = LayersBlock().Match(document);
        Assert.True(block.Success, "docs/architecture.md has no ```layers block");
        var layers = new Dictionary<string, int>(StringComparer.Ordinal);
        var rank = 0;
        foreach (var line in block.Groups[1].Value.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            foreach (var folder in line.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                layers[folder] = rank;
            }

            rank++;
        }

        return layers;
    }

    /// <summary>The file without comments, string literals and its namespace declaration: what is left names
    /// other folders only in <c>using</c> directives and qualified names.</summary>
    private static string CodeOf(string text) => NamespacePattern().Replace(NotCode().Replace(text, " "), " ");

    [GeneratedRegex(@"'(?:\\.|[^'\\\n])'|""""""[\s\S]*?""""""|@""(?:[^""]|"""")*""|""(?:\\.|[^""\\\n])*""|//[^\n]*|/\*[\s\S]*?\*/")]
    private static partial Regex NotCode();

    [GeneratedRegex(@"\bOrchestrator\.(\w+)")]
    private static partial Regex NamespaceUse();

    [GeneratedRegex(@"^namespace\s+([\w.]+)", RegexOptions.Multiline)]
    private static partial Regex NamespacePattern();

    private static bool AssemblyAttributesOnly(string text) =>
        !TypeDeclaration().IsMatch(CodeOf(text)) && text.Contains("[assembly:", StringComparison.Ordinal);

    [GeneratedRegex(@"\b(?:class|struct|interface|enum|record|delegate)\s+\w")]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"```layers\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex LayersBlock();
}
