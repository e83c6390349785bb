import Hummingbird
import NIOCore

/// Request context for ddl servers: knows the caller's address and caps bodies at 16 KiB.
public struct DDLRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Address of the connection's other end.
    public let remoteAddress: SocketAddress?
    /// The event loop of the connection's channel.
    public let eventLoop: any EventLoop
    /// The connection's channel (its socket's options: the seed socket asks who connected).
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.eventLoop = source.channel.eventLoop
        self.channel = source.channel
    }

    /// ddl request bodies are tiny JSON documents.
    public var maxUploadSize: Int { 16 * 1024 }
}
