import AsyncHTTPClient
import DDLCore
import DDLServerSupport
import DDLTrackerClient
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Builds a peer server: the HTTP application that fetches ranges for clients, and the
/// tracker registration that keeps it listed.
public enum PeerServer {
    /// Makes the peer's `HTTPClient` for talking to the tracker (no decompression, read
    /// timeout, no redirects). Origin fetches use their own pinned clients with the same
    /// settings (see ``originClientConfiguration(configuration:)``).
    public static func makeOriginClient(configuration: PeerConfiguration) -> HTTPClient {
        HTTPClient(eventLoopGroupProvider: .singleton, configuration: originClientConfiguration(configuration: configuration))
    }

    /// Client settings for origin fetches: no decompression, connect/read timeouts, and no
    /// redirects (the fetcher follows them itself after checking each hop).
    public static func originClientConfiguration(configuration: PeerConfiguration) -> HTTPClient.Configuration {
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .disallow
        config.timeout = .init(connect: .seconds(Int64(configuration.originConnectTimeoutSeconds)), read: .seconds(Int64(configuration.originReadTimeoutSeconds)))
        config.decompression = .disabled
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, configuration.maxConcurrentFetches))
        config.connectionPool.retryConnectionEstablishment = false
        return config
    }

    /// Why a peer server cannot start.
    public enum StartError: Error, CustomStringConvertible {
        /// The cache directory cannot be created or is in use by another server.
        case cacheDirectory(String)

        public var description: String {
            switch self {
            case let .cacheDirectory(text): text
            }
        }
    }

    /// Builds the services. The caller owns `httpClient` and shuts it down after the group ends.
    /// Registration starts once the server listens, so the advertised port is the bound one.
    /// Throws when the cache directory cannot be locked for this server.
    public static func makeServices(
        configuration: PeerConfiguration,
        httpClient: HTTPClient,
        stats: PeerStats = PeerStats(),
        metrics: PeerMetrics? = nil,
        resolver: HostResolver = .system,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws(StartError) -> [any Service] {
        // Without `metrics`, they are enabled as the configuration says; passed, they decide.
        let metrics = metrics ?? PeerMetrics(enabled: configuration.metrics)
        var cache: PeerCache?
        var lock: CacheDirectoryLock?
        if let directory = configuration.cacheDirectory {
            lock = try CacheDirectoryLock(directory: directory)
            cache = PeerCache(
                configuration: .init(
                    directory: directory, capacity: configuration.cacheCapacity, maxAge: .seconds(configuration.cacheMaxAgeSeconds),
                    ignoredParameters: configuration.cacheKeyIgnoreParams),
                logger: logger)
        }
        let originClient = makeOriginClient(configuration: configuration)
        let limiter = FetchLimiter(limit: configuration.maxConcurrentFetches)
        let fetcher = OriginFetcher(
            sharedOriginClient: originClient, limiter: limiter,
            configuration: configuration, logger: logger, stats: stats, metrics: metrics, cache: cache, resolver: resolver)
        let router = Router(context: DDLRequestContext.self)
        if metrics.isEnabled { router.add(middleware: RequestMetricsMiddleware(registry: metrics.registry, role: "peer")) }
        router.get("/healthz") { _, _ in HTTPResponse.Status.ok }
        router.requireToken(configuration.token)
        if metrics.isEnabled { router.addMetrics(MetricsEndpoint(registry: metrics.registry) { metrics.setActiveFetches(limiter.inUse) }) }
        router.get("/v1/fetch") { request, context in await fetcher.handle(request, context: context) }
        router.post("/v1/preheat") { request, context in await fetcher.preheat(request, context: context) }
        if let cache { CacheRoutes(cache: cache).add(to: router) }

        let boundPort = Eventually<Int>()
        let seedSocket = cache.map { SeedSocket(cache: $0, token: configuration.token, boundPort: boundPort, logger: logger) }
        let app = Application(
            router: router,
            server: ServerHardening.server(limitedBy: ConnectionCounter(limits: configuration.connectionLimits), tls: configuration.tls),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "ddl-peer"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                await boundPort.set(port)
                // Listening means ready for this machine's downloads too (see SeedSocket).
                _ = try? await seedSocket?.ready.wait()
                await onListening(port)
            },
            logger: logger
        )
        // The origin client lives as long as the server: first in, last out.
        var services: [any Service] = [HTTPClientLifetime(client: originClient), app]
        if let lock { services.insert(CacheDirectoryLockLifetime(lock: lock), at: 0) }
        if let seedSocket { services.append(seedSocket) }
        // One registration per tracker, each on its own: a tracker that is down or restarts
        // delays only its own registration (trackers share no state; see docs/trackers.md).
        let status: @Sendable () -> TrackerAPI.PeerStatus = { TrackerAPI.PeerStatus(servedBytes: stats.bytesServed, activeFetches: limiter.inUse) }
        let trackers = TrackerSet(
            baseURLs: configuration.trackerURLs, httpClient: httpClient, token: configuration.token, fingerprints: configuration.trackerFingerprints)
        for var tracker in trackers.trackers {
            tracker.keepsConnectionsOpen = false
            services.append(DeferredRegistration(boundPort: boundPort, configuration: configuration, tracker: tracker, status: status, logger: logger))
        }
        return services
    }
}

/// Waits for the server's bound port, then runs ``TrackerRegistration``.
struct DeferredRegistration: Service {
    let boundPort: Eventually<Int>
    let configuration: PeerConfiguration
    let tracker: TrackerClient
    /// What the peer has done, sent with every registration and heartbeat.
    let status: @Sendable () -> TrackerAPI.PeerStatus
    let logger: Logger

    func run() async throws {
        guard let port = try? await cancelWhenGracefulShutdown({ try await boundPort.wait() }) else { return }
        let request = TrackerAPI.RegisterRequest(port: port, host: configuration.advertisedHost, name: configuration.name, fingerprint: configuration.tls?.fingerprint)
        try await TrackerRegistration(tracker: tracker, request: request, status: status, logger: logger).run()
    }
}


/// Shuts an `HTTPClient` down when the service group shuts down.
struct HTTPClientLifetime: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
