import AsyncHTTPClient
import DDLCore
import DDLTLS
import Logging
import NIOCore

/// Runs one download: probe, plan, fetch pieces from the sources through a dynamic work
/// queue into `<file>.part`, verify, rename.
public struct Downloader: Sendable {
    public let configuration: ClientConfiguration
    public let httpClient: HTTPClient
    public let logger: Logger
    public let observer: any DownloadObserver
    /// The client for the tracker and the peers during ``run()``: like ``httpClient`` but it
    /// follows no redirect (a peer answering `302` must not send this machine, with the
    /// swarm token, anywhere else). `nil` outside a run or without a tracker.
    var swarmClient: HTTPClient?
    /// The tracker's and the peers' certificates, learned from their fingerprints (the
    /// end-of-download report to the trackers uses them too: no second handshake to learn).
    package let pins: PinnedCertificates

    /// - Parameter httpClient: used for the origin, the peers and the tracker; the caller
    ///   shuts it down. ``makeHTTPClient(configuration:)`` makes a suitable one.
    public init(configuration: ClientConfiguration, httpClient: HTTPClient, logger: Logger, observer: any DownloadObserver = SilentObserver()) {
        self.configuration = configuration
        self.httpClient = httpClient
        self.logger = logger
        self.observer = observer
        pins = PinnedCertificates(timeout: .seconds(Int64(configuration.connectTimeoutSeconds)))
    }

    /// An `HTTPClient` for downloads: keep-alive pools, redirects followed, no
    /// decompression, a read timeout that catches stalled pieces.
    public static func makeHTTPClient(configuration: ClientConfiguration) -> HTTPClient {
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .follow(max: 10, allowCycles: false)
        config.timeout = .init(connect: .seconds(Int64(configuration.connectTimeoutSeconds)), read: .seconds(Int64(configuration.readTimeoutSeconds)))
        config.decompression = .disabled
        // Room for the checksum files looked up at the start too, so that no piece waits for
        // a connection behind them.
        config.connectionPool = .init(
            idleTimeout: .seconds(30),
            concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, configuration.connections + 2) + SidecarLookup.sidecarsPerFile)
        // A refused connection fails the piece at once (it is retried elsewhere) instead of
        // being retried inside the pool until the connect timeout.
        config.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// Settings of the swarm client: those of ``makeHTTPClient(configuration:)``, without
    /// redirects.
    static func swarmClientConfiguration(_ configuration: ClientConfiguration) -> HTTPClient.Configuration {
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .disallow
        config.timeout = .init(connect: .seconds(Int64(configuration.connectTimeoutSeconds)), read: .seconds(Int64(configuration.readTimeoutSeconds)))
        config.decompression = .disabled
        config.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, configuration.piecesInFlightPerSource + 2))
        config.connectionPool.retryConnectionEstablishment = false
        return config
    }

    /// Downloads the file; returns the summary or throws a ``DownloadError``.
    public func run() async throws(DownloadError) -> DownloadSummary {
        var run = self
        if !configuration.trackerURLs.isEmpty {
            run.swarmClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.swarmClientConfiguration(configuration))
        }
        let result: Result<DownloadSummary, DownloadError>
        do throws(DownloadError) {
            result = .success(try await run.runChecked())
        } catch {
            result = .failure(error)
        }
        try? await run.swarmClient?.shutdown()
        return try result.get()
    }

    private func runChecked() async throws(DownloadError) -> DownloadSummary {
        do {
            return try await runUnchecked()
        } catch let error as DownloadError {
            throw error
        } catch is CancellationError {
            throw .interrupted
        } catch {
            throw .network(String(describing: error))
        }
    }

    private func runUnchecked() async throws -> DownloadSummary {
        guard configuration.connections >= 1, configuration.connections <= 64 else {
            throw DownloadError.usage("--connections must be between 1 and 64")
        }
        var restarts = 0
        while true {
            do {
                return try await attempt(startOver: restarts > 0)
            } catch let error as DownloadError {
                guard case .changed = error, configuration.restartOnChange, restarts < 3 else { throw error }
                restarts += 1
                observer.handle(.notice("\(error.description): starting over (--restart-on-change)"))
            }
        }
    }

    /// One whole download attempt. `startOver` ignores any saved state.
    private func attempt(startOver: Bool) async throws -> DownloadSummary {
        let started = ContinuousClock.now
        let file = try await OriginProbe(httpClient: httpClient, logger: logger).probe(configuration.url)
        let path = try OutputPath.resolve(configuration: configuration, suggestedName: file.suggestedName)
        logger.info("probed origin", metadata: ["url": "\(URLIdentity.printable(file.url))", "length": "\(file.length.map(String.init) ?? "unknown")", "ranges": "\(file.acceptsRanges)"])
        return try await withDigestLookup(for: file) { digests in
            if file.supportsSegmentedDownload, let length = file.length {
                return try await segmentedDownload(file: file, length: length, path: path, startOver: startOver, digests: digests, started: started)
            }
            return try await singleStreamDownload(file: file, path: path, digests: digests, started: started)
        }
    }
}
