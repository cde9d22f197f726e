using System.Buffers;
using System.Buffers.Binary;

namespace Orchestrator.Web;

/// <summary>What a TLS ClientHello offers, read before the handshake (Kestrel's <c>TlsClientHelloBytesCallback</c>), so
/// the handshake can be set up for the client at hand.</summary>
internal static class TlsClientHello
{
    private const byte HandshakeRecord = 22;
    private const byte ClientHelloMessage = 1;
    private const ushort SupportedVersionsExtension = 43;
    private const ushort Tls13 = 0x0304;

    /// <summary>Whether the client lists TLS 1.3 in its <c>supported_versions</c> extension (RFC 8446 4.2.1), which is
    /// the only way a client offers it. Bytes that are not a whole ClientHello count as not offering it: the caller
    /// then takes the path that fits every client.</summary>
    public static bool OffersTls13(ReadOnlySequence<byte> record)
    {
        ReadOnlySpan<byte> bytes = record.IsSingleSegment ? record.FirstSpan : record.ToArray();
        // Record header (type, version, length), then the handshake header (type, 24-bit length).
        if (bytes.Length < 9 || bytes[0] != HandshakeRecord || bytes[5] != ClientHelloMessage)
        {
            return false;
        }

        // legacy_version and random, then three length-prefixed lists: session id, cipher suites, compression methods.
        var at = 9 + 2 + 32;
        if (!Skip(bytes, ref at, lengthBytes: 1) || !Skip(bytes, ref at, lengthBytes: 2) || !Skip(bytes, ref at, lengthBytes: 1) ||
            at + 2 > bytes.Length)
        {
            return false;
        }

        var end = at + 2 + BinaryPrimitives.ReadUInt16BigEndian(bytes[at..]);
        at += 2;
        if (end > bytes.Length)
        {
            return false;
        }

        while (at + 4 <= end)
        {
            var type = BinaryPrimitives.ReadUInt16BigEndian(bytes[at..]);
            var length = BinaryPrimitives.ReadUInt16BigEndian(bytes[(at + 2)..]);
            at += 4;
            if (at + length > end)
            {
                return false;
            }

            if (type == SupportedVersionsExtension && length > 0)
            {
                var versions = bytes.Slice(at + 1, Math.Min(bytes[at], length - 1));
                for (var i = 0; i + 1 < versions.Length; i += 2)
                {
                    if (BinaryPrimitives.ReadUInt16BigEndian(versions[i..]) == Tls13)
                    {
                        return true;
                    }
                }

                return false;
            }

            at += length;
        }

        return false;
    }

    /// <summary>Moves past a list whose length is written in the <paramref name="lengthBytes"/> before it.</summary>
    private static bool Skip(ReadOnlySpan<byte> bytes, ref int at, int lengthBytes)
    {
        if (at + lengthBytes > bytes.Length)
        {
            return false;
        }

        var length = lengthBytes == 1 ? bytes[at] : BinaryPrimitives.ReadUInt16BigEndian(bytes[at..]);
        at += lengthBytes + length;
        return at <= bytes.Length;
    }
}
