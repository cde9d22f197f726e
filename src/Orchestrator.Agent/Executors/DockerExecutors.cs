using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Orchestrator.Agent.Executors;

/// <summary><c>docker.pull</c> <c>{ "image", "tag"?, "digest"? }</c> → <c>{ "imageId", "digest"? }</c>.</summary>
public sealed class DockerPullExecutor(DockerEngine docker) : IExecutor
{
    public string TaskType => "docker.pull";

    public async Task<ExecutionResult> ExecuteAsync(TaskContext context)
    {
        var (image, embedded) = DockerEngine.SplitReference(context.RequiredString("image"));
        var reference = context.String("digest") ?? context.String("tag") ?? embedded ?? "latest";
        context.Log.Info($"Pulling {image}{(reference.StartsWith("sha256:", StringComparison.Ordinal) ? "@" : ":")}{reference}");
        await docker.PullAsync(image, reference, context, context.Stopping);
        var separator = reference.StartsWith("sha256:", StringComparison.Ordinal) ? "@" : ":";
        var inspected = await docker.TryInspectAsync($"{image}{separator}{reference}", context.Stopping)
                        ?? throw new TaskFailedException($"{image}{separator}{reference} is not on the engine after the pull.");
        var digest = inspected.RepoDigests?.FirstOrDefault(d => d.StartsWith(image + "@", StringComparison.Ordinal))?[(image.Length + 1)..];
        context.Progress(100, "pulled");
        context.Log.Info($"Pulled {image}{separator}{reference} ({inspected.ID})");
        return ExecutionResult.Succeeded(new { imageId = inspected.ID, digest });
    }
}

/// <summary><c>docker.run</c>: creates and starts a container. Detached (the default) it succeeds once the container
/// runs, with <c>{ "containerId" }</c>; with <c>"detach": false</c> it waits for the exit, streams the output as logs,
/// removes the container (unless <c>"remove": false</c>: a finished one-off container is litter, as <c>docker run
/// --rm</c> treats it) and succeeds iff the exit code is 0, with <c>{ "containerId", "exitCode", "removed" }</c>. With
/// <c>"replace": true</c> a container already holding its <c>name</c> (the version before) is stopped and removed once
/// the new image is on the engine, so one definition deploys every later version; without it the name is a conflict.</summary>
public sealed class DockerRunExecutor(DockerEngine docker) : IExecutor
{
    public string TaskType => "docker.run";

    public async Task<ExecutionResult> ExecuteAsync(TaskContext context)
    {
        var (image, embedded) = DockerEngine.SplitReference(context.RequiredString("image"));
        var tag = context.String("tag") ?? embedded ?? "latest";
        var reference = tag.StartsWith("sha256:", StringComparison.Ordinal) ? $"{image}@{tag}" : $"{image}:{tag}";
        var detach = context.Bool("detach") ?? true;
        var pull = context.String("pull") ?? "missing";
        if (pull is not ("missing" or "always" or "never"))
        {
            throw new TaskFailedException("Payload field 'pull' must be missing, always or never.");
        }

        if (pull == "always" || (pull == "missing" && await docker.TryInspectAsync(reference, context.Stopping) is null))
        {
            context.Log.Info($"Pulling {reference}");
            await docker.PullAsync(image, tag, context, context.Stopping);
        }

        var name = context.String("name");
        string? replaced = null;
        if (context.Bool("replace") ?? false)
        {
            replaced = await ReplaceAsync(name ?? throw new TaskFailedException("Payload field 'replace' needs 'name'."), context);
        }

        var parameters = new CreateContainerParameters
        {
            Image = reference,
            Name = name!,
            Cmd = context.Strings("command")!,
            Env = context.Map("env")?.Select(e => $"{e.Key}={e.Value}").ToList()!,
            Labels = WithTaskLabel(context.Map("labels"), context.TaskId),
            HostConfig = new HostConfig { NetworkMode = context.String("network")! },
        };
        ApplyPorts(parameters, context.Strings("ports"));

        CreateContainerResponse created;
        try
        {
            created = await docker.Client.Containers.CreateContainerAsync(parameters, context.Stopping);
            await docker.Client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), context.Stopping);
        }
        catch (DockerApiException ex)
        {
            throw new TaskFailedException($"Could not start a container of {reference}: {context.Log.Redact(DockerEngine.ShortReason(ex))}", ex);
        }

        context.Log.Info($"Started container {created.ID[..12]} from {reference}");
        if (detach)
        {
            return ExecutionResult.Succeeded(replaced is null ? new { containerId = created.ID } : new { containerId = created.ID, replaced });
        }

        // Stopping: ask the engine to stop the container (SIGTERM, then SIGKILL after the grace period).
        await using var stop = context.Stopping.Register(() => _ = StopQuietly(created.ID, context.GracePeriod));
        await using var kill = context.Killing.Register(() => _ = KillQuietly(created.ID));
        var logs = FollowLogsAsync(created.ID, context);
        var exit = await docker.Client.Containers.WaitContainerAsync(created.ID, CancellationToken.None);
        await logs;
        var exitCode = (int)exit.StatusCode;
        context.Log.Info($"Container {created.ID[..12]} exited with code {exitCode}");
        var removed = context.Bool("remove") ?? true;
        if (removed)
        {
            // Its output is already in the task's log (followed to the end above); the exit code is in the result.
            removed = await RemoveQuietly(created.ID);
        }

        return exitCode == 0
            ? ExecutionResult.Succeeded(new { containerId = created.ID, exitCode, removed })
            : new ExecutionResult(false, new { containerId = created.ID, exitCode, removed, error = $"The container exited with code {exitCode}." });
    }

    /// <summary>Stops (the task's grace period, then a kill) and removes the container named <paramref name="name"/>, if
    /// there is one; its id, or null.</summary>
    private async Task<string?> ReplaceAsync(string name, TaskContext context)
    {
        try
        {
            var old = await docker.Client.Containers.InspectContainerAsync(name, context.Stopping);
            await docker.Client.Containers.StopContainerAsync(old.ID,
                new ContainerStopParameters { WaitBeforeKillSeconds = (uint)Math.Ceiling(context.GracePeriod.TotalSeconds) }, context.Killing);
            await docker.Client.Containers.RemoveContainerAsync(old.ID, new ContainerRemoveParameters { Force = true }, context.Killing);
            context.Log.Info($"Replaced container {old.ID[..12]} ({name})");
            return old.ID;
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
        catch (DockerApiException ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (DockerApiException ex)
        {
            throw new TaskFailedException($"Could not replace the container '{name}': {context.Log.Redact(DockerEngine.ShortReason(ex))}", ex);
        }
    }

    private static Dictionary<string, string> WithTaskLabel(Dictionary<string, string>? labels, Guid taskId)
    {
        var all = labels ?? [];
        all.TryAdd("orchestrator.task-id", taskId.ToString());
        return all;
    }

    /// <summary><c>"8080:80"</c>, <c>"127.0.0.1:8080:80"</c>, <c>"8080:80/udp"</c>.</summary>
    private static void ApplyPorts(CreateContainerParameters parameters, List<string>? ports)
    {
        if (ports is null or { Count: 0 })
        {
            return;
        }

        parameters.ExposedPorts = new Dictionary<string, EmptyStruct>();
        parameters.HostConfig!.PortBindings = new Dictionary<string, IList<PortBinding>>();
        foreach (var port in ports)
        {
            var (spec, protocol) = port.Split('/') is [var p, var proto] ? (p, proto) : (port, "tcp");
            var parts = spec.Split(':');
            var (hostIp, hostPort, containerPort) = parts switch
            {
                [var container] => ("", "", container),
                [var host, var container] => ("", host, container),
                [var ip, var host, var container] => (ip, host, container),
                _ => throw new TaskFailedException($"Port '{port}' is not [ip:]hostPort:containerPort[/protocol]."),
            };
            if (!int.TryParse(containerPort, out _) || (hostPort.Length > 0 && !int.TryParse(hostPort, out _)))
            {
                throw new TaskFailedException($"Port '{port}' is not [ip:]hostPort:containerPort[/protocol].");
            }

            var key = $"{containerPort}/{protocol}";
            parameters.ExposedPorts[key] = default;
            parameters.HostConfig.PortBindings[key] = [new PortBinding { HostIP = hostIp, HostPort = hostPort }];
        }
    }

    private async Task FollowLogsAsync(string containerId, TaskContext context)
    {
        try
        {
            using var stream = await docker.Client.Containers.GetContainerLogsAsync(containerId,
                new ContainerLogsParameters { Follow = true, ShowStdout = true, ShowStderr = true }, CancellationToken.None);
            var buffer = new byte[16 * 1024];
            var pending = new Dictionary<MultiplexedStream.TargetStream, StringBuilder>();
            while (true)
            {
                var read = await stream.ReadOutputAsync(buffer, 0, buffer.Length, CancellationToken.None);
                if (read.EOF)
                {
                    break;
                }

                var text = pending.TryGetValue(read.Target, out var held) ? held : pending[read.Target] = new StringBuilder();
                text.Append(Encoding.UTF8.GetString(buffer, 0, read.Count));
                EmitLines(text, read.Target == MultiplexedStream.TargetStream.StandardError ? "error" : "info", context);
            }

            foreach (var (target, rest) in pending)
            {
                if (rest.Length > 0)
                {
                    context.Log.Write(target == MultiplexedStream.TargetStream.StandardError ? "error" : "info", rest.ToString());
                }
            }
        }
        catch (Exception ex) when (ex is DockerApiException or IOException or HttpRequestException)
        {
            context.Log.Write("warn", $"Stopped following the container's output: {ex.Message}");
        }
    }

    private static void EmitLines(StringBuilder text, string level, TaskContext context)
    {
        var all = text.ToString();
        var end = all.LastIndexOf('\n');
        if (end < 0)
        {
            return;
        }

        foreach (var line in all[..end].Split('\n'))
        {
            context.Log.Write(level, line);
        }

        text.Clear().Append(all[(end + 1)..]);
    }

    private async Task StopQuietly(string containerId, TimeSpan grace)
    {
        try
        {
            await docker.Client.Containers.StopContainerAsync(containerId,
                new ContainerStopParameters { WaitBeforeKillSeconds = (uint)Math.Max(1, grace.TotalSeconds) }, CancellationToken.None);
        }
        catch (Exception ex) when (ex is DockerApiException or IOException or HttpRequestException)
        {
            // Gone already, or the kill below does it.
        }
    }

    private async Task<bool> RemoveQuietly(string containerId)
    {
        try
        {
            await docker.Client.Containers.RemoveContainerAsync(containerId, new ContainerRemoveParameters { Force = true }, CancellationToken.None);
            return true;
        }
        catch (Exception ex) when (ex is DockerApiException or IOException or HttpRequestException)
        {
            return false;
        }
    }

    private async Task KillQuietly(string containerId)
    {
        try
        {
            await docker.Client.Containers.KillContainerAsync(containerId, new ContainerKillParameters(), CancellationToken.None);
        }
        catch (Exception ex) when (ex is DockerApiException or IOException or HttpRequestException)
        {
            // Exited already.
        }
    }
}

/// <summary><c>docker.stop</c> <c>{ "container", "timeoutSeconds"?, "remove"?: false }</c> → <c>{ "containerId", "removed" }</c>.</summary>
public sealed class DockerStopExecutor(DockerEngine docker) : IExecutor
{
    public string TaskType => "docker.stop";

    public async Task<ExecutionResult> ExecuteAsync(TaskContext context)
    {
        var container = context.RequiredString("container");
        var timeout = context.Int("timeoutSeconds") ?? 10;
        if (timeout is < 0 or > 3600)
        {
            throw new TaskFailedException("Payload field 'timeoutSeconds' must be from 0 to 3600.");
        }

        var remove = context.Bool("remove") ?? false;
        try
        {
            var inspected = await docker.Client.Containers.InspectContainerAsync(container, context.Stopping);
            await docker.Client.Containers.StopContainerAsync(inspected.ID, new ContainerStopParameters { WaitBeforeKillSeconds = (uint)timeout },
                context.Killing);
            context.Log.Info($"Stopped container {inspected.ID[..12]} ({inspected.Name.TrimStart('/')})");
            if (remove)
            {
                await docker.Client.Containers.RemoveContainerAsync(inspected.ID, new ContainerRemoveParameters { Force = true }, context.Killing);
                context.Log.Info($"Removed container {inspected.ID[..12]}");
            }

            return ExecutionResult.Succeeded(new { containerId = inspected.ID, removed = remove });
        }
        catch (DockerContainerNotFoundException)
        {
            throw new TaskFailedException($"No container '{container}' on this engine.");
        }
        catch (DockerApiException ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            throw new TaskFailedException($"No container '{container}' on this engine.");
        }
    }
}
