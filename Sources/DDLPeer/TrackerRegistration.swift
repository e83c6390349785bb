import DDLCore
import DDLTrackerClient
import Logging
import ServiceLifecycle

/// Keeps a peer server registered with one tracker (a peer with several trackers runs one
/// per tracker): registers, heartbeats every ttl/3, registers again after a `404` (tracker
/// restarted or the entry expired), retries with backoff while the tracker is down, and
/// deregisters on graceful shutdown.
public struct TrackerRegistration: Service {
    let tracker: TrackerClient
    let request: TrackerAPI.RegisterRequest
    let status: @Sendable () -> TrackerAPI.PeerStatus?
    let logger: Logger
    let maximumBackoff: Duration

    /// - Parameter status: what the peer has done so far, sent with every registration and
    ///   heartbeat for the tracker's dashboard (`nil`: nothing is sent).
    public init(
        tracker: TrackerClient, request: TrackerAPI.RegisterRequest, status: @escaping @Sendable () -> TrackerAPI.PeerStatus? = { nil },
        logger: Logger, maximumBackoff: Duration = .seconds(10)
    ) {
        self.tracker = tracker
        self.request = request
        self.status = status
        self.logger = logger
        self.maximumBackoff = maximumBackoff
    }

    public func run() async throws {
        let registered = RegisteredID()
        // Graceful shutdown interrupts only the waits, never a registration in flight, so
        // the id the tracker handed out is always known when deregistering.
        await loop(registered)
        if let id = await registered.id {
            do {
                try await tracker.deregister(id: id)
                logger.info("deregistered from tracker", metadata: ["peer.id": "\(id)", "tracker": "\(tracker.baseURL)"])
            } catch {
                logger.info("could not deregister from tracker", metadata: ["error": "\(error)", "tracker": "\(tracker.baseURL)"])
            }
        }
    }

    private func loop(_ registered: RegisteredID) async {
        var backoff: Duration = .milliseconds(250)
        var interval: Duration = .seconds(10)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var wait = interval
            do {
                if let id = await registered.id {
                    if try await tracker.heartbeat(id: id, status: status()) == .unknown {
                        logger.info("tracker forgot this peer; registering again", metadata: ["peer.id": "\(id)", "tracker": "\(tracker.baseURL)"])
                        await registered.set(nil)
                        continue
                    }
                } else {
                    var request = self.request
                    request.status = status()
                    let answer = try await tracker.register(request)
                    await registered.set(answer.id)
                    interval = .seconds(max(1, answer.ttl)) / 3
                    wait = interval
                    logger.info("registered with tracker", metadata: ["peer.id": "\(answer.id)", "ttl": "\(answer.ttl)", "tracker": "\(tracker.baseURL)"])
                }
                backoff = .milliseconds(250)
            } catch is CancellationError {
                return
            } catch {
                logger.info("tracker not reachable; retrying", metadata: ["error": "\(error)", "retry.in": "\(backoff)", "tracker": "\(tracker.baseURL)"])
                wait = backoff
                backoff = min(backoff * 2, maximumBackoff)
            }
            do {
                let pause = wait
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            } catch {
                return
            }
        }
    }
}

actor RegisteredID {
    var id: String?
    func set(_ id: String?) { self.id = id }
}
