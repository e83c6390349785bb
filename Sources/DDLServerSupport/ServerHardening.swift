import DDLTLS
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore

/// HTTP/1.1 server settings shared by the tracker and the peer server, against slow and
/// oversized requests.
public enum ServerHardening {
    /// A connection with no complete request head (or no body part) for this long is closed
    /// (slowloris), and so is a kept-alive connection idle for this long. A response being
    /// streamed is not cut.
    public static let idleTimeout: TimeAmount = .seconds(30)

    /// ddl requests are small: a request line with one percent-encoded URL, a few headers.
    public static let decoder = HTTP1Channel.Configuration.DecoderConfiguration(
        maxHeaderFieldSize: 16 * 1024, maxHeaderListSize: 32 * 1024, maxHeaderFieldCount: 100)

    /// The HTTP/1.1 channel configuration for ddl servers, without connection limits.
    public static var http1: HTTP1Channel.Configuration {
        HTTP1Channel.Configuration(idleTimeout: idleTimeout, httpDecoderConfiguration: decoder)
    }

    /// The HTTP/1.1 channel configuration for a ddl server whose connections `counter`
    /// limits (see ``ConnectionGuard``). Give each server its own counter.
    public static func http1(limitedBy counter: ConnectionCounter) -> HTTP1Channel.Configuration {
        HTTP1Channel.Configuration(
            additionalChannelHandlers: [ConnectionGuard(counter: counter)], idleTimeout: idleTimeout, httpDecoderConfiguration: decoder)
    }

    /// The server of a ddl tracker or peer: HTTP/1.1 limited by `counter`, inside TLS with
    /// `tls` (plain HTTP when `nil`).
    public static func server(limitedBy counter: ConnectionCounter, tls: TLSIdentity?) -> HTTPServerBuilder {
        let configuration = http1(limitedBy: counter)
        guard let tls else { return .http1(configuration: configuration) }
        let tlsConfiguration = tls.serverConfiguration
        return HTTPServerBuilder { responder in
            try TLSChannel(HTTP1Channel(responder: responder, configuration: configuration), tlsConfiguration: tlsConfiguration)
        }
    }
}
