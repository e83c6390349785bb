import ServiceLifecycle
import Synchronization

/// Tells the dashboard's event streams that something changed (a peer came, went or
/// reported, a download was reported). Each subscriber holds at most one pending signal, so
/// a burst of changes becomes one update.
///
/// A `Service`: every ``keepalive`` it signals every stream (each sends a fresh snapshot, so a
/// dashboard that went away is noticed when the write fails, and frees its slot, even on an
/// idle tracker); on graceful shutdown it ends every stream, so open dashboards do not keep
/// the HTTP server from stopping. Put it after the application in the `ServiceGroup` (it
/// then shuts down first).
public final class SwarmEvents: Service, Sendable {
    private struct State {
        var subscribers: [Int: AsyncStream<Void>.Continuation] = [:]
        var nextID = 0
        var closed = false
    }

    /// Most streams open at once.
    public let limit: Int
    /// Time between two signals when nothing changes.
    public let keepalive: Duration
    private let state = Mutex(State())

    public init(limit: Int = 32, keepalive: Duration = .seconds(15)) {
        self.limit = limit
        self.keepalive = keepalive
    }

    /// A stream of change signals that starts with one (send the current state at once), or
    /// `nil` when ``limit`` streams are open or the tracker is shutting down.
    public func subscribe() -> AsyncStream<Void>? {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id: Int? = state.withLock { state in
            guard !state.closed, state.subscribers.count < limit else { return nil }
            state.nextID += 1
            state.subscribers[state.nextID] = continuation
            return state.nextID
        }
        guard let id else { return nil }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        continuation.yield()
        return stream
    }

    /// Signals every stream.
    public func changed() {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for subscriber in subscribers { subscriber.yield() }
    }

    /// Streams open now.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.keepalive)
                self.changed()
            }
        }
        let subscribers = state.withLock { state in
            state.closed = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }
}
