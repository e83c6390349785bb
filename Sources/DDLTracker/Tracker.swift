import DDLCore
import DDLServerSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Builds the tracker: its HTTP application, the sweeper that forgets expired peers, and the
/// dashboard's event source.
public enum Tracker {
    /// What the tracker's routes share: one per tracker (tests run many in one process).
    public struct Parts: Sendable {
        public var configuration: TrackerConfiguration
        public var registry: PeerRegistry
        public var metrics: TrackerMetrics
        public var activity: SwarmActivity
        public var events: SwarmEvents
        public var logger: Logger

        /// Fresh state for `configuration`; pass any part to share or inspect it. Without
        /// `metrics`, they are enabled as `configuration.metrics` says; passed, they decide.
        public init(
            configuration: TrackerConfiguration, registry: PeerRegistry? = nil, metrics: TrackerMetrics? = nil,
            activity: SwarmActivity? = nil, events: SwarmEvents = SwarmEvents(), logger: Logger
        ) {
            self.configuration = configuration
            self.registry = registry ?? PeerRegistry(
                ttl: .seconds(configuration.ttlSeconds), capacity: configuration.maxPeers, capacityPerSource: configuration.maxPeersPerAddress)
            self.metrics = metrics ?? TrackerMetrics(enabled: configuration.metrics)
            self.activity = activity ?? SwarmActivity(capacity: configuration.downloadHistory)
            self.events = events
            self.logger = logger
        }
    }

    /// Builds the tracker's services. Run them in one `ServiceGroup`.
    /// - Parameter onListening: called with the bound port once the server accepts connections.
    public static func makeServices(
        configuration: TrackerConfiguration,
        registry: PeerRegistry? = nil,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> [any Service] {
        makeServices(Parts(configuration: configuration, registry: registry, logger: logger), onListening: onListening)
    }

    /// Builds the tracker's services from its parts. Run them in one `ServiceGroup`.
    public static func makeServices(_ parts: Parts, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> [any Service] {
        let configuration = parts.configuration
        let app = Application(
            router: makeRouter(parts),
            server: ServerHardening.server(limitedBy: ConnectionCounter(limits: configuration.connectionLimits), tls: configuration.tls),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "ddl-tracker"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
            logger: parts.logger
        )
        // The event source last: the group shuts it down first, which ends the dashboards'
        // streams, so the server's own shutdown does not wait for them.
        return [app, PeerSweeper(registry: parts.registry, events: parts.events, interval: .seconds(max(1, configuration.ttlSeconds / 2))), parts.events]
    }

    /// The tracker's routes.
    public static func makeRouter(registry: PeerRegistry, configuration: TrackerConfiguration, logger: Logger) -> Router<DDLRequestContext> {
        makeRouter(Parts(configuration: configuration, registry: registry, logger: logger))
    }

    /// The tracker's routes: `/healthz` and the dashboard page open, the rest behind the token.
    /// With metrics disabled there is no `/metrics` (404) and no request counting.
    public static func makeRouter(_ parts: Parts) -> Router<DDLRequestContext> {
        let (registry, configuration, logger, events) = (parts.registry, parts.configuration, parts.logger, parts.events)
        let router = Router(context: DDLRequestContext.self)
        if parts.metrics.isEnabled {
            router.add(middleware: RequestMetricsMiddleware(registry: parts.metrics.registry, role: "tracker"))
        }
        router.get("/healthz") { _, _ in
            HTTPResponse.Status.ok
        }
        addDashboardPage(to: router)
        router.requireToken(configuration.token)
        let peerPolicy = AddressPolicy(allowNetworks: configuration.allowPeerNetworks, scope: .lan)
        if parts.metrics.isEnabled {
            router.addMetrics(MetricsEndpoint(registry: parts.metrics.registry) { parts.metrics.setPeers(await registry.liveCount()) })
        }
        let peers = router.group("/v1/peers")
        peers.post { request, context -> Response in
            let body: TrackerAPI.RegisterRequest
            do {
                body = try await request.decode(as: TrackerAPI.RegisterRequest.self, context: context)
            } catch {
                return problem(.badRequest, type: "bad-request", "expected a JSON body {\"port\": N, \"host\": optional, \"name\": optional}")
            }
            guard (1...65535).contains(body.port) else {
                return problem(.badRequest, type: "bad-port", "port must be between 1 and 65535")
            }
            if let name = body.name, name.utf8.count > 64 {
                return problem(.badRequest, type: "bad-name", "name must be at most 64 bytes")
            }
            guard let sourceAddress = Tracker.sourceAddress(context) else {
                return problem(.badRequest, type: "bad-host", "cannot tell the address this registration came from")
            }
            // Only IP addresses are listed: a name would be resolved by each client, maybe to
            // another address than any the tracker could check (DNS rebinding).
            let address: IPAddress
            if let given = body.host, !given.isEmpty {
                guard let parsed = IPAddress(given) else {
                    return problem(.badRequest, type: "bad-host", "host must be an IP address (advertise the address clients should connect to, not a name)")
                }
                address = parsed.unmapped
            } else {
                address = sourceAddress
            }
            if let refusal = peerPolicy.check(address) {
                logger.info("registration refused by the address policy", metadata: [
                    "peer.host": "\(address)", "source": "\(sourceAddress)", "rule": "\(refusal.rule)",
                ])
                return problem(.forbidden, type: "forbidden-address", "peer address \(refusal.description)")
            }
            if configuration.tls != nil, body.fingerprint == nil {
                return problem(.badRequest, type: "tls-required", "this swarm uses TLS: register with the fingerprint of the peer's certificate (run `ddl server` without --plain-http)")
            }
            let host = address.description
            switch await registry.register(
                host: host, port: body.port, name: body.name, source: sourceAddress.description, status: body.status?.sanitized, fingerprint: body.fingerprint)
            {
            case let .registered(id):
                logger.info("peer registered", metadata: ["peer.id": "\(id)", "peer.host": "\(host)", "peer.port": "\(body.port)"])
                events.changed()
                return try jsonResponse(TrackerAPI.RegisterResponse(id: id, ttl: configuration.ttlSeconds), status: .created)
            case .full:
                return problem(.serviceUnavailable, type: "full", "the tracker has reached its peer limit")
            case .sourceFull:
                logger.info("registration refused: too many from one address", metadata: ["source": "\(sourceAddress)"])
                return problem(.tooManyRequests, type: "too-many-peers", "\(sourceAddress) has \(configuration.maxPeersPerAddress) peers registered already (max_peers_per_address on the tracker)")
            }
        }
        peers.get { request, _ -> Response in
            // `?file=KEY&limit=K`: the K peers ranked highest for a file (what a download asks);
            // without `file`, up to `max_listed` peers (`ddl peers`).
            let query = request.uri.queryParameters
            var limit = configuration.maxListed
            if let text = query.get("limit") {
                guard let asked = Int(text), asked > 0 else {
                    return problem(.badRequest, type: "bad-request", "limit must be a positive whole number")
                }
                limit = min(asked, configuration.maxListed)
            }
            let file = query.get("file")
            if let file, file.isEmpty || file.utf8.count > 128 {
                return problem(.badRequest, type: "bad-request", "file must be a key of 1 to 128 bytes (ddl sends 16 hex digits)")
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            let body = if let file { try await registry.listDocument(forFile: file, limit: limit) } else { try await registry.listDocument(limit: limit) }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
        }
        peers.put(":id") { request, context -> Response in
            let id = try context.parameters.require("id")
            // An optional status body (what the peer served): read before the heartbeat counts.
            var status: TrackerAPI.PeerStatus?
            let body = try await request.body.collect(upTo: context.maxUploadSize)
            if body.readableBytes > 0 {
                guard let decoded = try? JSONDecoder().decode(TrackerAPI.PeerStatus.self, from: body) else {
                    return problem(.badRequest, type: "bad-request", "expected no body or {\"servedBytes\": N, \"activeFetches\": N}")
                }
                status = decoded.sanitized
            }
            switch await registry.heartbeat(id: id, from: Tracker.owner(context)) {
            case .done: break
            case .unknown: return problem(.notFound, type: "unknown-peer", "unknown peer id; register again")
            case .notOwner: return Tracker.notOwner(id, context, logger)
            }
            if let status {
                if let served = await registry.record(status, for: id) { await parts.activity.add(served) }
                events.changed()
            }
            return Response(status: .noContent)
        }
        peers.delete(":id") { _, context -> Response in
            let id = try context.parameters.require("id")
            switch await registry.remove(id: id, from: Tracker.owner(context)) {
            case .done: break
            case .unknown: return problem(.notFound, type: "unknown-peer", "unknown peer id")
            case .notOwner: return Tracker.notOwner(id, context, logger)
            }
            logger.info("peer removed", metadata: ["peer.id": "\(id)"])
            events.changed()
            return Response(status: .noContent)
        }
        addDownloadRoutes(to: router, parts)
        addEventStream(to: router, parts)
        return router
    }
}

extension Tracker {
    /// The address a request came from (IPv4-mapped IPv6 unmapped), as registrations
    /// record it.
    static func sourceAddress(_ context: DDLRequestContext) -> IPAddress? {
        context.remoteAddress?.ipAddress.flatMap { IPAddress($0)?.unmapped }
    }

    /// The registry's key for the address a request came from; empty when unknown (it then
    /// owns nothing).
    static func owner(_ context: DDLRequestContext) -> String {
        sourceAddress(context)?.description ?? ""
    }

    /// `403` for a heartbeat or removal of an entry another address registered.
    static func notOwner(_ id: String, _ context: DDLRequestContext, _ logger: Logger) -> Response {
        logger.info("refused a change to another address's peer entry", metadata: ["peer.id": "\(id)", "source": "\(owner(context))"])
        return problem(.forbidden, type: "not-owner", "this peer id was registered from another address; only that address may heartbeat or remove it")
    }
}

extension TrackerAPI.PeerStatus {
    /// The status with negative numbers clamped to zero.
    var sanitized: Self {
        Self(servedBytes: max(0, servedBytes), activeFetches: max(0, activeFetches))
    }
}

/// Periodically forgets peers whose TTL has passed.
struct PeerSweeper: Service {
    let registry: PeerRegistry
    let events: SwarmEvents
    let interval: Duration

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                if await registry.sweep() > 0 { events.changed() }
            }
        }
    }
}

extension PeerSweeper: CustomStringConvertible {
    var description: String { "PeerSweeper" }
}
