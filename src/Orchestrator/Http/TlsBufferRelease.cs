using System.Net.Security;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Orchestrator.Http;

/// <summary>Lets OpenSSL free a TLS connection's record buffers (about 33 KiB: one of 16 KiB and more each way) whenever
/// none of them holds data, with <c>SSL_MODE_RELEASE_BUFFERS</c>, which .NET never sets. Meant for long, mostly idle
/// connections such as task streams: a buffer is allocated again for each record, a cost a busy connection would pay on
/// every request. .NET offers no way to the mode but the connection's <c>SSL*</c> behind a private member of
/// <see cref="SslStream"/>, so every step is checked (the member, its exact type, one libssl loaded, the mode read back)
/// and a runtime of another shape leaves the buffers as they were, with a reason to log.</summary>
public static class TlsBufferRelease
{
    private const int SslCtrlMode = 33; // SSL_CTRL_MODE: ORs larg into the mode and returns the mode after it
    private const nint ReleaseBuffersMode = 0x10; // SSL_MODE_RELEASE_BUFFERS
    private const string SslHandleType = "Microsoft.Win32.SafeHandles.SafeSslHandle";

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate nint SslCtrl(nint ssl, int command, nint larg, nint parg);

    private static readonly Lazy<(SslCtrl? Ctrl, string? Failure)> Native = new(LoadSslCtrl);
    private static readonly FieldInfo? SecurityContext =
        typeof(SslStream).GetField("_securityContext", BindingFlags.Instance | BindingFlags.NonPublic);

    /// <summary>Sets the mode on the connection under <paramref name="tls"/> (once its handshake is done, and only while
    /// nothing reads or writes it). False with the reason when it could not; false without one when the connection
    /// closed meanwhile.</summary>
    public static bool TryRelease(SslStream tls, out string? failure) =>
        TryControl(tls, ReleaseBuffersMode, out var mode, out failure) && HasReleaseBuffers(mode, out failure);

    /// <summary>OpenSSL's mode of the connection under <paramref name="tls"/>, as OpenSSL reports it (changing nothing).</summary>
    public static bool TryReadMode(SslStream tls, out long mode, out string? failure)
    {
        var read = TryControl(tls, 0, out var value, out failure);
        mode = value;
        return read;
    }

    /// <summary>Whether <paramref name="mode"/> (read with <see cref="TryReadMode"/>) releases the buffers.</summary>
    public static bool ReleasesBuffers(long mode) => (mode & ReleaseBuffersMode) != 0;

    private static bool HasReleaseBuffers(nint mode, out string? failure)
    {
        failure = ReleasesBuffers(mode) ? null : "OpenSSL did not keep SSL_MODE_RELEASE_BUFFERS";
        return failure is null;
    }

    private static bool TryControl(SslStream tls, nint larg, out nint mode, out string? failure)
    {
        mode = 0;
        if (!OperatingSystem.IsLinux())
        {
            failure = "the TLS stack is not OpenSSL";
            return false;
        }

        var (ctrl, loadFailure) = Native.Value;
        if (ctrl is null)
        {
            failure = loadFailure;
            return false;
        }

        // Anything but the exact handle type .NET 7 to 10 keep there (SafeHandle.handle is the SSL*) could be a pointer
        // to something else, and OpenSSL would take it for an SSL: better no release than a crash.
        if (SecurityContext?.GetValue(tls) is not SafeHandle handle || handle.GetType().FullName != SslHandleType)
        {
            failure = $"SslStream._securityContext is not a {SslHandleType} in this .NET";
            return false;
        }

        var added = false;
        try
        {
            // Held for the call, so a connection closing meanwhile cannot free the SSL under it.
            handle.DangerousAddRef(ref added);
            if (handle.IsInvalid)
            {
                failure = "the connection has no TLS session";
                return false;
            }

            mode = ctrl(handle.DangerousGetHandle(), SslCtrlMode, larg, 0);
            failure = null;
            return true;
        }
        catch (ObjectDisposedException)
        {
            // The connection closed meanwhile: nothing to release, and nothing wrong with this .NET.
            failure = null;
            return false;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary><c>SSL_ctrl</c> from the libssl .NET loaded (it loads it itself, not globally, so the one mapped into
    /// this process is found by its path; loading that path again returns the same library).</summary>
    private static (SslCtrl?, string?) LoadSslCtrl()
    {
        try
        {
            var loaded = File.ReadLines("/proc/self/maps")
                .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var at and >= 0 ? line[at..] : "")
                .Where(path => Path.GetFileName(path).StartsWith("libssl.so", StringComparison.Ordinal))
                .Distinct(StringComparer.Ordinal)
                .ToList();
            if (loaded.Count != 1)
            {
                return (null, loaded.Count == 0 ? "no libssl is loaded" : $"several libssl are loaded: {string.Join(", ", loaded)}");
            }

            var library = NativeLibrary.Load(loaded[0]);
            return (Marshal.GetDelegateForFunctionPointer<SslCtrl>(NativeLibrary.GetExport(library, "SSL_ctrl")), null);
        }
        catch (Exception e) when (e is IOException or DllNotFoundException or EntryPointNotFoundException or UnauthorizedAccessException)
        {
            return (null, $"libssl's SSL_ctrl was not found: {e.Message}");
        }
    }
}
