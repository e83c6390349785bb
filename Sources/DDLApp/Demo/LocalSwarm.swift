import AsyncHTTPClient
import DDLCore
import DDLPeer
import DDLTLS
import DDLTestOrigin
import DDLTracker
import DDLTrackerClient
import Logging
import ServiceLifecycle

/// A whole swarm in one process: a test origin, a tracker and peer servers on loopback.
/// Used by `ddl demo` and by the end-to-end tests.
public struct LocalSwarm: Sendable {
    /// What to start.
    public struct Options: Sendable {
        /// Bytes served by the built-in origin; `nil` starts no origin.
        public var originSize: Int64? = 256 << 20
        /// One entry per peer server: the loopback address it binds (any 127.x.y.z).
        public var peerHosts: [String] = ["127.0.0.1", "127.0.0.1", "127.0.0.1"]
        /// Tracker TTL in seconds.
        public var ttlSeconds = 30
        /// The swarm token; a fresh one by default. `nil` runs an open swarm.
        public var token: String? = SwarmToken.generate()
        /// Networks the peers may fetch from: loopback by default, where the built-in origin runs.
        public var allowNetworks: [IPNetwork] = [IPNetwork("127.0.0.0/8")!]
        /// When set, each peer keeps a cache in `peer-N` under this directory; else no cache.
        public var cacheRoot: String?
        /// Peer addresses the tracker accepts although the LAN policy refuses them: loopback,
        /// where the peers run. Clients of the swarm must allow the same
        /// (``ClientConfiguration/allowPeerNetworks``).
        public var allowPeerNetworks: [IPNetwork] = [IPNetwork("127.0.0.0/8")!]
        /// Trackers the peers register with besides the swarm's own (started and stopped by
        /// the caller: a test of several trackers).
        public var extraTrackerURLs: [String] = []
        /// Serve the tracker and the peers over TLS, each with a fresh certificate (kept
        /// nowhere). Clients then pin ``LocalSwarm/trackerFingerprints``.
        public var tls = false
        /// Prometheus metrics on the tracker and the peers (``TrackerConfiguration/metrics``).
        public var metrics = true
        public init() {}
    }

    /// The built-in origin, when started.
    public let origin: TestOrigin?
    /// Base URL of the origin, e.g. `http://127.0.0.1:41234`.
    public let originURL: String?
    /// Base URL of the tracker.
    public let trackerURL: String
    /// Bound ports of the peer servers, in the order of ``Options/peerHosts``.
    public let peerPorts: [Int]
    /// What each peer served.
    public let peerStats: [PeerStats]
    /// The swarm token clients must send (``Options/token``).
    public var token: String? = nil
    /// The tracker's certificate fingerprint, with ``Options/tls`` (else empty): what
    /// clients pin (``ClientConfiguration/trackerFingerprints``).
    public var trackerFingerprints: [CertificateFingerprint] = []

    /// URL of the origin's file `name`.
    public func fileURL(_ name: String = "file.bin") -> String { (originURL ?? "") + "/files/" + name }

    /// Starts the swarm, waits until every peer is registered, runs `body`, and shuts the
    /// swarm down gracefully (peers deregister) whatever `body` does.
    public static func run<T: Sendable>(
        _ options: Options = Options(), logger: Logger = Logger(label: "ddl.swarm"),
        _ body: @Sendable (LocalSwarm) async throws -> T
    ) async throws -> T {
        var services: [any Service] = []
        let origin = options.originSize.map { TestOrigin(length: $0) }
        let originPort = Eventually<Int>()
        if let origin {
            services.append(origin.makeApplication(logger: logger, onListening: { await originPort.set($0) }))
        }
        let trackerPort = Eventually<Int>()
        var trackerConfiguration = TrackerConfiguration(host: "127.0.0.1", port: 0, ttlSeconds: options.ttlSeconds)
        trackerConfiguration.maxPeers = 10_000
        trackerConfiguration.token = options.token
        trackerConfiguration.allowPeerNetworks = options.allowPeerNetworks
        trackerConfiguration.maxPeersPerAddress = 10_000
        trackerConfiguration.tls = options.tls ? try TLSIdentity.ephemeral(commonName: "ddl tracker") : nil
        trackerConfiguration.metrics = options.metrics
        let trackerFingerprints = trackerConfiguration.tls.map { [$0.fingerprint] } ?? []
        services += Tracker.makeServices(configuration: trackerConfiguration, logger: logger) { await trackerPort.set($0) }

        let originClient = PeerServer.makeOriginClient(configuration: PeerConfiguration())
        let infrastructure = ServiceGroup(services: services, logger: logger)
        do {
            let result = try await withThrowingTaskGroup(of: Void.self) { tasks -> T in
                tasks.addTask { try await infrastructure.run() }
                do {
                    let trackerURL = "\(options.tls ? "https" : "http")://127.0.0.1:\(try await trackerPort.wait())"
                    let originURL: String? = origin == nil ? nil : "http://127.0.0.1:\(try await originPort.wait())"
                    // Peers start once the tracker's URL is known, in a group of their own that
                    // shuts down first so that they deregister while the tracker still runs.
                    let peerPorts = options.peerHosts.map { _ in Eventually<Int>() }
                    let stats = options.peerHosts.map { _ in PeerStats() }
                    var peerServices: [any Service] = []
                    for (index, host) in options.peerHosts.enumerated() {
                        var configuration = PeerConfiguration(host: host, port: 0, trackerURLs: [trackerURL] + options.extraTrackerURLs)
                        configuration.name = "local-peer-\(index + 1)"
                        configuration.token = options.token
                        configuration.allowNetworks = options.allowNetworks
                        configuration.cacheDirectory = options.cacheRoot.map { "\($0)/peer-\(index + 1)" }
                        configuration.trackerFingerprints = trackerFingerprints
                        configuration.tls = options.tls ? try TLSIdentity.ephemeral(commonName: "ddl server") : nil
                        configuration.metrics = options.metrics
                        peerServices += try PeerServer.makeServices(
                            configuration: configuration, httpClient: originClient, stats: stats[index], logger: logger
                        ) { await peerPorts[index].set($0) }
                    }
                    let peers = ServiceGroup(services: peerServices, logger: logger)
                    tasks.addTask { try await peers.run() }
                    do {
                        var ports: [Int] = []
                        for port in peerPorts { ports.append(try await port.wait()) }
                        let swarm = LocalSwarm(
                            origin: origin, originURL: originURL, trackerURL: trackerURL, peerPorts: ports, peerStats: stats, token: options.token,
                            trackerFingerprints: trackerFingerprints)
                        try await swarm.waitForPeers(count: ports.count, httpClient: originClient)
                        let value = try await body(swarm)
                        // A response still held at a pause gate would keep a peer's fetch,
                        // and so the peers' graceful shutdown, waiting.
                        origin?.releaseAllGates()
                        await peers.triggerGracefulShutdown()
                        _ = try await tasks.next()  // the peers' group: they deregister while the tracker runs
                        await infrastructure.triggerGracefulShutdown()
                        try await tasks.waitForAll()
                        return value
                    } catch {
                        origin?.releaseAllGates()
                        await peers.triggerGracefulShutdown()
                        throw error
                    }
                } catch {
                    await infrastructure.triggerGracefulShutdown()
                    try? await tasks.waitForAll()
                    throw error
                }
            }
            try await originClient.shutdown()
            return result
        } catch {
            try? await originClient.shutdown()
            throw error
        }
    }

    /// A client of this swarm's tracker, with its token and pinned certificate.
    public func trackerClient(httpClient: HTTPClient) -> TrackerClient {
        TrackerClient(baseURL: trackerURL, httpClient: httpClient, token: token, fingerprints: trackerFingerprints)
    }

    /// Waits (up to 10 s) until the tracker lists `count` peers.
    public func waitForPeers(count: Int, httpClient: HTTPClient) async throws {
        let tracker = trackerClient(httpClient: httpClient)
        for _ in 0..<1000 {
            if let peers = try? await tracker.peers(), peers.count >= count { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TrackerClient.Failure.malformed(trackerURL, reason: "fewer than \(count) peers registered after 10 s")
    }
}

