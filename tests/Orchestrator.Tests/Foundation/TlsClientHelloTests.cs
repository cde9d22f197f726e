using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.Authentication;
using System.Text;
using Orchestrator.Web;

namespace Orchestrator.Tests.Foundation;

/// <summary>The service reads from a ClientHello whether the client offers TLS 1.3 (it then gets the shared TLS context
/// without a cipher-suite policy). The ClientHellos here are the ones .NET's own TLS client sends.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class TlsClientHelloTests
{
    [Fact]
    public async Task A_client_allowing_tls13_offers_it()
    {
        Assert.True(TlsClientHello.OffersTls13(new ReadOnlySequence<byte>(await ClientHelloAsync(SslProtocols.None))));
        Assert.True(TlsClientHello.OffersTls13(new ReadOnlySequence<byte>(await ClientHelloAsync(SslProtocols.Tls13))));
    }

    [Fact]
    public async Task A_client_limited_to_tls12_does_not()
    {
        Assert.False(TlsClientHello.OffersTls13(new ReadOnlySequence<byte>(await ClientHelloAsync(SslProtocols.Tls12))));
    }

    [Fact]
    public async Task Bytes_that_are_not_a_whole_client_hello_do_not()
    {
        var hello = await ClientHelloAsync(SslProtocols.None);

        for (var length = 0; length < hello.Length; length += 7)
        {
            Assert.False(TlsClientHello.OffersTls13(new ReadOnlySequence<byte>(hello, 0, length)));
        }

        Assert.False(TlsClientHello.OffersTls13(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))));
    }

    /// <summary>The first TLS record a .NET client sends when allowed <paramref name="protocols"/>.</summary>
    private static async Task<byte[]> ClientHelloAsync(SslProtocols protocols)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var server = await listener.AcceptSocketAsync();
        var tls = new SslStream(tcp.GetStream());
        var handshake = tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            EnabledSslProtocols = protocols,
        });

        var header = new byte[5];
        await ReceiveExactlyAsync(server, header);
        var record = new byte[5 + (header[3] << 8 | header[4])];
        header.CopyTo(record, 0);
        await ReceiveExactlyAsync(server, record.AsMemory(5));
        server.Close();
        await Assert.ThrowsAnyAsync<Exception>(() => handshake);
        await tls.DisposeAsync();
        return record;
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var read = await socket.ReceiveAsync(buffer);
            Assert.NotEqual(0, read);
            buffer = buffer[read..];
        }
    }
}
