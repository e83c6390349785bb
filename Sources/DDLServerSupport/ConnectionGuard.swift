import NIOCore
import Synchronization

/// Limits on the connections a ddl server keeps, against clients that open many and hold
/// them (half-open connections that exhaust file descriptors) or read a response so slowly
/// that it holds a fetch slot for ever (slowloris readers).
public struct ConnectionLimits: Sendable, Hashable {
    /// Most connections open at once; a connection past it is closed as soon as it is
    /// accepted.
    public var maxConnections: Int = 512
    /// Most connections open at once from one source address.
    public var maxConnectionsPerAddress: Int = 64
    /// Seconds a connection may stay unable to take more response bytes (its reader makes no
    /// progress: the socket's buffers stay full) before it is closed, which ends the response
    /// and frees what it held.
    public var stallTimeoutSeconds: Int = 30

    public init(maxConnections: Int = 512, maxConnectionsPerAddress: Int = 64, stallTimeoutSeconds: Int = 30) {
        self.maxConnections = maxConnections
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.stallTimeoutSeconds = stallTimeoutSeconds
    }
}

/// The open connections of one server, counted in all and per source address.
public final class ConnectionCounter: Sendable {
    private struct State {
        var total = 0
        var perAddress: [String: Int] = [:]
    }

    private let state = Mutex(State())
    /// The limits enforced.
    public let limits: ConnectionLimits

    public init(limits: ConnectionLimits) { self.limits = limits }

    /// Counts a new connection from `address`; false (and nothing counted) when a limit is
    /// reached.
    func admit(_ address: String) -> Bool {
        state.withLock { state in
            let fromAddress = state.perAddress[address, default: 0]
            guard state.total < limits.maxConnections, fromAddress < limits.maxConnectionsPerAddress else { return false }
            state.total += 1
            state.perAddress[address] = fromAddress + 1
            return true
        }
    }

    /// Forgets a connection ``admit(_:)`` counted.
    func release(_ address: String) {
        state.withLock { state in
            state.total -= 1
            let left = state.perAddress[address, default: 1] - 1
            state.perAddress[address] = left > 0 ? left : nil
        }
    }

    /// Connections open now.
    public var open: Int { state.withLock { $0.total } }
}

/// A channel handler on every accepted connection: enforces ``ConnectionLimits`` (closes a
/// connection over the caps at once) and closes a connection whose channel stays unwritable
/// for ``ConnectionLimits/stallTimeoutSeconds`` (its reader takes no bytes). It only reacts
/// to writability changes, so a fast stream costs nothing per chunk.
public final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny
    public typealias OutboundIn = NIOAny

    private let counter: ConnectionCounter
    private var address: String?
    private var stallTimer: Scheduled<Void>?

    public init(counter: ConnectionCounter) {
        self.counter = counter
    }

    /// Counts the connection once it is registered and active (the handler is added while
    /// the server sets the channel up, before that), or closes it when a cap is reached.
    public func channelActive(context: ChannelHandlerContext) {
        let source = context.channel.remoteAddress?.ipAddress ?? "unknown"
        guard address == nil else { return context.fireChannelActive() }
        guard counter.admit(source) else {
            context.close(promise: nil)
            return
        }
        address = source
        context.fireChannelActive()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stallTimer?.cancel()
            stallTimer = nil
        } else if stallTimer == nil {
            let timeout = TimeAmount.seconds(Int64(counter.limits.stallTimeoutSeconds))
            stallTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
                guard let self, self.stallTimer != nil else { return }
                self.stallTimer = nil
                context.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        finish()
    }

    private func finish() {
        stallTimer?.cancel()
        stallTimer = nil
        if let address {
            counter.release(address)
            self.address = nil
        }
    }
}
