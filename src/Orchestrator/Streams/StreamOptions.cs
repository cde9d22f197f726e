using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Orchestrator.Streams;

public sealed class StreamOptions : IValidatableObject
{
    public const string Section = "Orchestrator:Streams";

    /// <summary>Largest message an agent may send on its task stream; a larger one closes the stream (1009).</summary>
    public int MaxMessageBytes { get; set; } = 16 * 1024;

    /// <summary>Sustained messages per second an agent may send; a flood past <see cref="Burst"/> closes the stream (1008).</summary>
    public double MessagesPerSecond { get; set; } = 50;

    public int Burst { get; set; } = 200;

    /// <summary>How often the server pings an idle stream.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A stream whose peer does not answer a ping within this long is closed and cleaned up.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether OpenSSL may free a stream connection's record buffers while they are empty (Linux); off only to
    /// rule it out when looking for a fault, as it reaches a private member of .NET's <c>SslStream</c>.</summary>
    public bool ReleaseTlsBuffers { get; set; } = true;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (MaxMessageBytes is < 1024 or > 1024 * 1024)
        {
            yield return new ValidationResult("Orchestrator:Streams:MaxMessageBytes must be from 1024 to 1048576.");
        }

        if (!(MessagesPerSecond > 0) || Burst < 1)
        {
            yield return new ValidationResult("Orchestrator:Streams:MessagesPerSecond and Orchestrator:Streams:Burst must be positive.");
        }

        if (KeepAliveInterval <= TimeSpan.Zero || KeepAliveTimeout <= TimeSpan.Zero)
        {
            yield return new ValidationResult(
                "Orchestrator:Streams:KeepAliveInterval and Orchestrator:Streams:KeepAliveTimeout must be greater than zero.");
        }
    }
}

[OptionsValidator]
internal sealed partial class StreamOptionsValidator : IValidateOptions<StreamOptions>;
