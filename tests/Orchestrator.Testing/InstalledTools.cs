namespace Orchestrator.Testing;

/// <summary>Built .NET programs as commands on PATH, by the names users install them under.</summary>
public static class InstalledTools
{
    /// <summary>Writes <paramref name="directory"/>/<paramref name="name"/>, a script that runs <paramref name="dll"/>
    /// with its arguments, as an installed tool would.</summary>
    public static void Write(string directory, string name, string dll)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, $"#!/bin/sh\nexec dotnet '{dll}' \"$@\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }
}
