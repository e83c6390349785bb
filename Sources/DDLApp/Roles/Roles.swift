import AsyncHTTPClient
import DDLClient
import DDLCore
import DDLPeer
import DDLTLS
import DDLTracker
import DDLTrackerClient
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Entry points of the `ddl` subcommands, shared by the executable, `ddl demo` and tests.
public enum Roles {
    /// Runs a tracker until SIGINT/SIGTERM. Prints `listening on http://HOST:PORT` once bound.
    /// Then, with a token, prints the join commands for servers and clients (with the token
    /// itself when it was generated).
    public static func runTracker(configuration: TrackerConfiguration, logger: Logger, tokenGenerated: Bool = false) async throws {
        let services = Tracker.makeServices(configuration: configuration, logger: logger) { port in
            let scheme = configuration.tls == nil ? "http" : "https"
            announce("ddl tracker listening on \(scheme)://\(display(configuration.host)):\(port) (ttl \(configuration.ttlSeconds) s)")
            if let tls = configuration.tls {
                announce("ddl tracker: certificate fingerprint \(tls.fingerprint) (kept in \(tls.path ?? "memory"))")
            }
            if let token = configuration.token {
                SecuritySettings.joinInstructions(
                    host: configuration.host, port: port, token: token, generated: tokenGenerated, fingerprint: configuration.tls?.fingerprint
                ).forEach(announce)
            }
            SecuritySettings.dashboardLines(
                host: configuration.host, port: port, token: configuration.token, generated: tokenGenerated, fingerprint: configuration.tls?.fingerprint
            ).forEach(announce)
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigint, .sigterm], logger: logger)
        try await group.run()
    }

    /// Runs a peer server until SIGINT/SIGTERM, deregistering from the tracker on the way out.
    public static func runServer(configuration: PeerConfiguration, logger: Logger) async throws {
        let httpClient = PeerServer.makeOriginClient(configuration: configuration)
        do {
            let services = try PeerServer.makeServices(configuration: configuration, httpClient: httpClient, logger: logger) { port in
                announce("ddl server listening on \(configuration.tls == nil ? "http" : "https")://\(display(configuration.host)):\(port)"
                    + (configuration.tls.map { " (certificate fingerprint \($0.fingerprint))" } ?? "")
                    + (configuration.trackerURLs.isEmpty ? ", no tracker" : ", tracker\(configuration.trackerURLs.count == 1 ? "" : "s") " + configuration.trackerURLs.joined(separator: ", ")))
            }
            let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigint, .sigterm], logger: logger)
            try await group.run()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }

    /// Runs `ddl get`; stops cleanly on SIGINT/SIGTERM. Returns the process exit code.
    public static func runGet(configuration: ClientConfiguration, logger: Logger) async -> Int32 {
        let observer = ConsoleObserver(mode: configuration.progress)
        let httpClient = Downloader.makeHTTPClient(configuration: configuration)
        let downloader = Downloader(configuration: configuration, httpClient: httpClient, logger: logger, observer: observer)
        let download = DownloadService(downloader)
        // The group ends when the download does, and a signal shuts it down gracefully: the
        // download is cancelled, keeps its state and ends as interrupted.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: download, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigint, .sigterm], logger: logger))
        let started = ContinuousClock.now
        do {
            try await group.run()
        } catch {
            logger.debug("service group ended", metadata: ["error": "\(error)"])
        }
        let outcome = download.result ?? .failure(.interrupted)
        await report(
            outcome, seconds: (ContinuousClock.now - started).seconds, configuration: configuration, httpClient: httpClient, pins: downloader.pins,
            logger: logger)
        try? await httpClient.shutdown()
        switch outcome {
        case .success:
            return 0
        case let .failure(error):
            if configuration.progress != .json {
                FileHandle.standardError.write(Data("ddl: error: \(TerminalText.escaped(error.description))\n".utf8))
            } else {
                let line = "{\"event\":\"error\",\"exitCode\":\(error.exitCode),\"message\":\(jsonString(error.description))}\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }
            return error.exitCode
        }
    }

    /// Reports a download's outcome to every tracker (each keeps its own dashboard), when
    /// there is one and reporting is on. Best effort: a failure is logged at debug level and
    /// changes nothing else; the requests run in parallel and each gives up after 2 s.
    static func report(
        _ outcome: Result<DownloadSummary, DownloadError>, seconds: Double, configuration: ClientConfiguration, httpClient: HTTPClient,
        pins: PinnedCertificates, logger: Logger
    ) async {
        guard configuration.reportToTracker, !configuration.trackerURLs.isEmpty else { return }
        let report = switch outcome {
        case let .success(summary): TrackerAPI.DownloadReport(summary: summary, givenURL: configuration.url)
        case let .failure(error): TrackerAPI.DownloadReport(error: error, givenURL: configuration.url, seconds: seconds)
        }
        let trackers = configuration.trackerSet(httpClient: httpClient, pins: pins)
        let failures = await trackers.report(report, timeout: .seconds(2))
        for failure in failures {
            logger.debug("could not report the download to a tracker", metadata: ["error": "\(failure)"])
        }
        if failures.count < trackers.trackers.count {
            logger.debug("reported the download to the trackers", metadata: ["result": "\(report.result)", "failed": "\(failures.count)"])
        }
    }

    /// Lists the trackers' peers, asked in parallel and merged (each peer once), as a table
    /// or JSON on standard output. Fails only when no tracker answers.
    public static func listPeers(trackerURLs: [String], json: Bool, token: String? = nil, fingerprints: [CertificateFingerprint] = []) async throws {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow  // the token goes to the tracker only
        configuration.connectionPool.retryConnectionEstablishment = false  // a tracker that is down fails at once; the others answer
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let peers: [TrackerAPI.Peer]
        do {
            peers = try await TrackerSet(baseURLs: trackerURLs, httpClient: httpClient, token: token, fingerprints: fingerprints).peers()
            try await httpClient.shutdown()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            let data = try encoder.encode(TrackerAPI.PeerList(peers: peers))
            FileHandle.standardOutput.write(data + Data("\n".utf8))
            return
        }
        FileHandle.standardOutput.write(Data(peerTable(peers).utf8))
    }

    /// The `ddl peers` table. Every field comes from the tracker, so control and bidi
    /// characters are escaped (a name such as `"\u{1B}]0;…"` must not reach the terminal).
    package static func peerTable(_ peers: [TrackerAPI.Peer]) -> String {
        let e = TerminalText.escaped
        var lines = [pad("ID", 34) + pad("HOST", 40) + pad("PORT", 7) + pad("NAME", 20) + "LAST SEEN"]
        for peer in peers {
            lines.append(pad(e(peer.id), 34) + pad(e(peer.host), 40) + pad(String(peer.port), 7) + pad(e(peer.name ?? "-"), 20) + e(peer.lastSeen))
        }
        lines.append("\(peers.count) peer\(peers.count == 1 ? "" : "s")")
        return lines.joined(separator: "\n") + "\n"
    }

    static func announce(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func display(_ host: String) -> String {
        host.contains(":") ? "[\(host)]" : host
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }

    static func jsonString(_ s: String) -> String {
        (try? String(decoding: JSONEncoder().encode(s), as: UTF8.self)) ?? "\"\""
    }
}
