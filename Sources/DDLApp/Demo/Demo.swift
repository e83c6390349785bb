import AsyncHTTPClient
import DDLClient
import DDLCore
import Foundation
import Logging

/// `ddl demo`: a built-in origin, a tracker, peer servers and a client download in one
/// process, checked against the origin's SHA-256.
public enum Demo {
    /// Demo settings.
    public struct Options: Sendable {
        public var size: Int64 = 256 << 20
        public var peers = 3
        public var directory: String?
        public var keep = false
        public var progress: ClientConfiguration.ProgressMode = .auto
        public init() {}
    }

    /// Runs the demo; returns the exit code.
    public static func run(_ options: Options, logger: Logger) async -> Int32 {
        var swarmOptions = LocalSwarm.Options()
        swarmOptions.originSize = options.size
        swarmOptions.peerHosts = Array(repeating: "127.0.0.1", count: options.peers)
        swarmOptions.tls = true  // as a real swarm: TLS on every link, each certificate pinned
        do {
            return try await LocalSwarm.run(swarmOptions, logger: logger) { swarm in
                let origin = swarm.origin!
                Roles.announce("ddl demo: origin \(swarm.originURL ?? "-") serving \(ByteSize.format(options.size)), tracker \(swarm.trackerURL), \(options.peers) peer server\(options.peers == 1 ? "" : "s") on ports \(swarm.peerPorts.map(String.init).joined(separator: ", "))")
                let directory = try options.directory ?? makeTemporaryDirectory()
                var configuration = ClientConfiguration(url: swarm.fileURL("demo.bin"))
                configuration.trackerURLs = [swarm.trackerURL]
                configuration.trackerFingerprints = swarm.trackerFingerprints
                configuration.token = swarm.token
                configuration.allowPeerNetworks = [IPNetwork("127.0.0.0/8")!]  // the demo's peers run on loopback
                configuration.downloadDirectory = directory
                configuration.overwrite = true
                configuration.progress = options.progress
                async let expected = Task.detached { origin.content.sha256() }.value
                let httpClient = Downloader.makeHTTPClient(configuration: configuration)
                let result: Result<DownloadSummary, DownloadError>
                do throws(DownloadError) {
                    result = .success(try await Downloader(
                        configuration: configuration, httpClient: httpClient, logger: logger,
                        observer: ConsoleObserver(mode: options.progress)).run())
                } catch {
                    result = .failure(error)
                }
                try? await httpClient.shutdown()
                switch result {
                case let .failure(error):
                    FileHandle.standardError.write(Data("ddl demo: download failed: \(error)\n".utf8))
                    return error.exitCode
                case let .success(summary):
                    let expectedDigest = await expected
                    if !options.keep {
                        try? FileManager.default.removeItem(atPath: summary.path)
                        if options.directory == nil { try? FileManager.default.removeItem(atPath: directory) }
                    }
                    let served = swarm.peerStats.enumerated().map { "peer \($0.offset + 1): \(ByteSize.format($0.element.bytesServed))" }
                    Roles.announce("ddl demo: peers served \(served.joined(separator: ", "))")
                    guard summary.sha256 == expectedDigest else {
                        Roles.announce("ddl demo: SHA-256 MISMATCH: got \(summary.sha256 ?? "none"), origin has \(expectedDigest)")
                        return DownloadError.integrity("").exitCode
                    }
                    Roles.announce("ddl demo: SHA-256 matches the origin's (\(expectedDigest)); \((summary.averageRate / 1_048_576).formatted(decimals: 1)) MiB/s over \(summary.sources.count) sources")
                    return 0
                }
            }
        } catch {
            FileHandle.standardError.write(Data("ddl demo: \(error)\n".utf8))
            return 1
        }
    }

    static func makeTemporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "ddl-demo-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
