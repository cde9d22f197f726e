using System.Globalization;

namespace Orchestrator.Agent.Listener;

/// <summary>The host's resource use for heartbeats, in percent: CPU busy time since the previous reading (from
/// <c>/proc/stat</c>), memory in use (<c>MemTotal - MemAvailable</c> of <c>/proc/meminfo</c>), and how full the
/// filesystem of the state directory is. A value the host cannot tell is null.</summary>
public sealed class ResourceMonitor(string stateDirectory)
{
    private (ulong Busy, ulong Total)? _previous;

    public (double? Cpu, double? Memory, double? Disk) Read() => (Cpu(), Memory(), Disk());

    private double? Cpu()
    {
        try
        {
            var line = File.ReadLines("/proc/stat").First(l => l.StartsWith("cpu ", StringComparison.Ordinal));
            var values = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(v => ulong.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            var idle = values[3] + (values.Length > 4 ? values[4] : 0);
            var total = values.Aggregate(0UL, (sum, v) => sum + v);
            var now = (Busy: total - idle, Total: total);
            var previous = _previous;
            _previous = now;
            if (previous is not { } before || now.Total <= before.Total)
            {
                return null;
            }

            return Round(100.0 * (now.Busy - before.Busy) / (now.Total - before.Total));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or InvalidOperationException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private static double? Memory()
    {
        try
        {
            var values = File.ReadLines("/proc/meminfo")
                .Select(l => l.Split(':', 2))
                .Where(p => p.Length == 2)
                .ToDictionary(p => p[0], p => double.Parse(p[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture));
            return values.TryGetValue("MemTotal", out var total) && values.TryGetValue("MemAvailable", out var available) && total > 0
                ? Round(100.0 * (total - available) / total)
                : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    private double? Disk()
    {
        try
        {
            var drive = new DriveInfo(stateDirectory);
            return drive.TotalSize > 0 ? Round(100.0 * (drive.TotalSize - drive.AvailableFreeSpace) / drive.TotalSize) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    private static double Round(double value) => Math.Round(Math.Clamp(value, 0, 100), 1);
}
