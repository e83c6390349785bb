import DDLCore
import DDLServerSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Builds the tracker: its HTTP application and the sweeper that forgets expired peers.
public enum Tracker {
    /// Builds the tracker's services. Run them in one `ServiceGroup`.
    /// - Parameter onListening: called with the bound port once the server accepts connections.
    public static func makeServices(
        configuration: TrackerConfiguration,
        registry: PeerRegistry? = nil,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> [any Service] {
        let registry = registry ?? PeerRegistry(
            ttl: .seconds(configuration.ttlSeconds), capacity: configuration.maxPeers, capacityPerSource: configuration.maxPeersPerAddress)
        let app = Application(
            router: makeRouter(registry: registry, configuration: configuration, logger: logger),
            server: .http1(configuration: ServerHardening.http1(limitedBy: ConnectionCounter(limits: configuration.connectionLimits))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "ddl-tracker"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
        return [app, PeerSweeper(registry: registry, interval: .seconds(max(1, configuration.ttlSeconds / 2)))]
    }

    /// The tracker's routes.
    public static func makeRouter(registry: PeerRegistry, configuration: TrackerConfiguration, logger: Logger) -> Router<DDLRequestContext> {
        let router = Router(context: DDLRequestContext.self)
        router.get("/healthz") { _, _ in
            HTTPResponse.Status.ok
        }
        router.requireToken(configuration.token)
        let peerPolicy = AddressPolicy(allowNetworks: configuration.allowPeerNetworks, scope: .lan)
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
            guard let source = context.remoteAddress?.ipAddress, let sourceAddress = IPAddress(source)?.unmapped else {
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
                    "peer.host": "\(address)", "source": "\(source)", "rule": "\(refusal.rule)",
                ])
                return problem(.forbidden, type: "forbidden-address", "peer address \(refusal.description)")
            }
            let host = address.description
            switch await registry.register(host: host, port: body.port, name: body.name, source: sourceAddress.description) {
            case let .registered(id):
                logger.info("peer registered", metadata: ["peer.id": "\(id)", "peer.host": "\(host)", "peer.port": "\(body.port)"])
                return try jsonResponse(TrackerAPI.RegisterResponse(id: id, ttl: configuration.ttlSeconds), status: .created)
            case .full:
                return problem(.serviceUnavailable, type: "full", "the tracker has reached its peer limit")
            case .sourceFull:
                logger.info("registration refused: too many from one address", metadata: ["source": "\(source)"])
                return problem(.tooManyRequests, type: "too-many-peers", "\(source) has \(configuration.maxPeersPerAddress) peers registered already (max_peers_per_address on the tracker)")
            }
        }
        peers.get { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: try await registry.listDocument(limit: configuration.maxListed)))
        }
        peers.put(":id") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard await registry.heartbeat(id: id) else {
                return problem(.notFound, type: "unknown-peer", "unknown peer id; register again")
            }
            return Response(status: .noContent)
        }
        peers.delete(":id") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard await registry.remove(id: id) else {
                return problem(.notFound, type: "unknown-peer", "unknown peer id")
            }
            logger.info("peer removed", metadata: ["peer.id": "\(id)"])
            return Response(status: .noContent)
        }
        return router
    }
}

/// Periodically forgets peers whose TTL has passed.
struct PeerSweeper: Service {
    let registry: PeerRegistry
    let interval: Duration

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await registry.sweep()
            }
        }
    }
}

extension PeerSweeper: CustomStringConvertible {
    var description: String { "PeerSweeper" }
}
