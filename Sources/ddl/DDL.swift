import ArgumentParser
import Configuration
import DDLApp
import DDLClient
import DDLCore
import DDLPeer
import DDLTLS
import DDLTracker
import Foundation
import Logging

@main
struct DDL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddl",
        abstract: "A peer-to-peer downloader for a LAN: peers fetch pieces of a big file in parallel, each over its own internet link.",
        discussion: """
            Settings come from flags, then DDL_<KEY> environment variables, then the --config file, then defaults.
            Exit codes: 0 ok, 1 other failure, 3 network, 4 origin error, 5 integrity, 6 local I/O, 64 usage, 130 interrupted.
            """,
        version: BuildInfo.version,
        subcommands: [TrackerCommand.self, ServerCommand.self, GetCommand.self, PeersCommand.self, PreheatCommand.self, CacheCommand.self, DemoCommand.self, TestOriginCommand.self]
    )
}

/// Options every subcommand has.
struct CommonOptions: ParsableArguments {
    @Option(help: "YAML (or .json) config file for this role.")
    var config: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level?

    func bootstrap(defaultLevel: Logger.Level) {
        let level = logLevel ?? ProcessInfo.processInfo.environment["DDL_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? defaultLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return EscapingLogHandler(wrapping: handler)
        }
    }

    func reader(_ flags: [String: ConfigContent?]) async throws -> ConfigReader {
        do {
            return try await ConfigLoader.reader(flags: flags.compactMapValues { $0 }, configFile: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError(String(describing: error))
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

func settings<T>(_ make: () throws -> T) throws -> T {
    do { return try make() } catch { throw ValidationError(String(describing: error)) }
}

struct TrackerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tracker", abstract: "Run the tracker that keeps the list of live peer servers.")

    @Option(help: "Address to bind (default 0.0.0.0).") var host: String?
    @Option(help: "Port to bind (default 5000).") var port: Int?
    @Option(help: "Seconds a peer stays listed without a heartbeat (default 30).") var ttl: Int?
    @Option(help: "Most peers registered from one address (default 32).") var maxPeersPerAddress: Int?
    @Option(name: .customLong("allow-peer-network"), help: "Accept peers in this network although the address policy refuses it, e.g. 127.0.0.0/8 (repeatable; config key allow_peer_networks).")
    var allowPeerNetworks: [String] = []
    @Option(help: "Directory for the tracker's TLS certificate and key, made on first start (config key state_dir; default ~/.local/state/ddl, or under $XDG_STATE_HOME).") var stateDir: String?
    @Flag(help: "Serve plain HTTP instead of TLS: the token and all data then cross the LAN in clear (config key plain_http).") var plainHTTP = false
    @Flag(help: "Print the fingerprint of the tracker's certificate (making it in the state directory if there is none yet) and exit: for scripts that hand it to servers and clients.")
    var printFingerprint = false
    @Flag(help: "Serve no Prometheus metrics: no /metrics, no request counting; the dashboard stays (config key metrics: false, env DDL_METRICS=false).")
    var noMetrics = false
    @OptionGroup var security: SecurityOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        common.bootstrap(defaultLevel: .info)
        let reader = try await common.reader(security.flags + ["allow_peer_networks": allowPeerNetworks.isEmpty ? nil : .stringArray(allowPeerNetworks)] + [
            "host": host.map { .string($0) }, "port": port.map { .int($0) }, "ttl": ttl.map { .int($0) },
            "max_peers_per_address": maxPeersPerAddress.map { .int($0) },
            "state_dir": stateDir.map { .string($0) }, "plain_http": plainHTTP ? .bool(true) : nil, "metrics": noMetrics ? .bool(false) : nil,
        ])
        if printFingerprint {
            try printIdentityFingerprint(.tracker, reader)
            return
        }
        var configuration = try settings { try TrackerConfiguration(reader: reader) }
        let generated = try settings { try SecuritySettings.enforce(.tracker, token: &configuration.token, insecure: SecuritySettings.insecure(reader)) }
        configuration.tls = try settings { try TransportSettings.identity(for: .tracker, reader) }
        try await Roles.runTracker(configuration: configuration, logger: Logger(label: "ddl.tracker"), tokenGenerated: generated)
    }
}

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "server", abstract: "Run a peer server that fetches ranges from origins for clients.")

    @Option(name: .customLong("tracker"), help: "Tracker URL, e.g. http://10.0.0.5:5000 (repeatable: the server registers with each tracker; config key tracker).")
    var trackers: [String] = []
    @Option(help: "Address to bind (default 0.0.0.0).") var host: String?
    @Option(help: "Port to bind (default 6000).") var port: Int?
    @Option(help: "IP address to advertise to the tracker (default: the bind address, or the address the tracker sees).") var advertise: String?
    @Option(help: "Name shown in peer lists.") var name: String?
    @Option(help: "Most origin fetches at once (default 16).") var maxFetches: Int?
    @Option(name: .customLong("allow-network"), help: "Let origins in this network through the address guard, e.g. 192.168.1.0/24 (repeatable; config key allow_networks).")
    var allowNetworks: [String] = []
    @Option(help: "Directory of the cache of fetched ranges (config key cache_dir; default ~/.cache/ddl/peer-cache, or under $XDG_CACHE_HOME).") var cacheDir: String?
    @Option(help: "Most bytes the cache holds, e.g. 20GiB (default 10GiB); least recently used files go first.") var cacheSize: String?
    @Option(help: "Remove cached files unused for this long, e.g. 7d, 12h (default 7d).") var cacheMaxAge: String?
    @Flag(help: "Keep no cache: relay bytes from the origin without storing them (config key cache: false).") var noCache = false
    @Option(name: .customLong("cache-key-ignore-param"), help: "A query parameter left out of cache keys besides the object stores' signing parameters, e.g. token (repeatable; config key cache_key_ignore_params; give clients the same).")
    var cacheKeyIgnoreParams: [String] = []
    @Option(help: "Directory for this peer's TLS certificate and key, made on first start (config key state_dir; default ~/.local/state/ddl, or under $XDG_STATE_HOME).") var stateDir: String?
    @Flag(help: "Print the fingerprint of this peer's certificate (making it in the state directory if there is none yet) and exit.")
    var printFingerprint = false
    @Flag(help: "Serve no Prometheus metrics and keep no counters on the data path (config key metrics: false, env DDL_METRICS=false).")
    var noMetrics = false
    @OptionGroup var tls: TLSOptions
    @OptionGroup var security: SecurityOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        common.bootstrap(defaultLevel: .info)
        let reader = try await common.reader(security.flags + tls.flags + ["allow_networks": allowNetworks.isEmpty ? nil : .stringArray(allowNetworks)] + [
            "state_dir": stateDir.map { .string($0) },
            "cache_dir": cacheDir.map { .string($0) }, "cache_size": cacheSize.map { .string($0) },
            "cache_max_age": cacheMaxAge.map { .string($0) }, "cache": noCache ? .bool(false) : nil, "metrics": noMetrics ? .bool(false) : nil,
            "cache_key_ignore_params": cacheKeyIgnoreParams.isEmpty ? nil : .stringArray(cacheKeyIgnoreParams),
        ] + [
            "tracker": trackers.isEmpty ? nil : .stringArray(trackers), "host": host.map { .string($0) }, "port": port.map { .int($0) },
            "advertise": advertise.map { .string($0) }, "name": name.map { .string($0) }, "max_fetches": maxFetches.map { .int($0) },
        ])
        if printFingerprint {
            try printIdentityFingerprint(.server, reader)
            return
        }
        var configuration = try settings { try PeerConfiguration(reader: reader) }
        _ = try settings { try SecuritySettings.enforce(.server, token: &configuration.token, insecure: SecuritySettings.insecure(reader)) }
        configuration.tls = try settings { try TransportSettings.identity(for: .server, reader) }
        if configuration.trackerURLs.isEmpty {
            FileHandle.standardError.write(Data("ddl server: no tracker configured (--tracker, DDL_TRACKER or `tracker:`); serving without registering\n".utf8))
        }
        try await Roles.runServer(configuration: configuration, logger: Logger(label: "ddl.server"))
    }
}

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Download a URL through the swarm (or directly when there is none).")

    @Argument(help: "The http:// or https:// URL to download.") var url: String
    @Argument(help: "Mirrors: other URLs of the same file. Each must show the same length (and ETag); their bytes are spot-checked like a peer's.")
    var mirrors: [String] = []
    @Option(name: .shortAndLong, help: "Output file.") var output: String?
    @Option(name: [.customShort("d"), .long], help: "Directory to save into (config key download_dir; default: current directory).") var dir: String?
    @Option(name: .customLong("tracker"), help: "Tracker URL (repeatable: all are asked, one answer is enough; config key tracker); without one, ddl downloads directly.")
    var trackers: [String] = []
    @Option(help: "Parallel ranges when downloading directly (default 4).") var connections: Int?
    @Option(help: "Piece size, e.g. 8MiB (default: 4-16 MiB chosen from the file size).") var pieceSize: String?
    @Flag(help: "Do not download pieces on this machine; only through peers.") var noSelf = false
    @Flag(help: "Fetch this machine's pieces directly even when a peer server runs on this machine (by default its share goes through that peer, whose fetches the swarm shares; config key self_direct).") var selfDirect = false
    @Flag(help: "Do not hand the download to the peer server of this machine (by default that peer fills the download's own file with its fetches and then serves the whole file to the swarm from it, so the file is stored once; config key seed).") var noSeed = false
    @Option(help: "The seed socket of this machine's peer server (default: <cache_dir>/.seed/seed.sock of the default cache directory; config key seed_socket).") var seedSocket: String?
    @Flag(help: "Replace an existing file.") var overwrite = false
    @Flag(help: "Ignore a partial download and start over.") var noResume = false
    @Flag(help: "When the file changes on the server, start over instead of failing.") var restartOnChange = false
    @Option(help: "Verify the file at the end against a digest: auto (default: one the origin publishes in its headers or in a checksum file such as SHA256SUMS next to the URL), none, or sha-256=HEX, sha-512=HEX, md5=HEX.") var checksum: String?
    @Flag(help: "Do not compute the file's SHA-256 (saves about 0.6 CPU s per GiB); a checksum is still verified.") var noSha256 = false
    @Option(help: "Fraction of each peer's bytes spot-checked against the origin by SHA-256, each peer's first delivery at head and tail (64 KiB), then one 256 KiB window at a random place in every 256KiB/RATE of its data; 0 disables, 1 checks all (default 0.02).") var verifyPeers: String?
    @Option(help: "Seconds without data before a piece is given to another source (default 30).") var readTimeout: Int?
    @Option(help: "Most peers the download uses: the tracker lists those it ranks highest for this file, the same for every client of it (default 64; config key swarm_peers).") var swarmPeers: Int?
    @Option(name: .customLong("cache-key-ignore-param"), help: "A query parameter left out of the file's key for piece owners besides the object stores' signing parameters (repeatable; config key cache_key_ignore_params; as the peers have it).")
    var cacheKeyIgnoreParams: [String] = []
    @Flag(name: .shortAndLong, help: "Print nothing but errors.") var quiet = false
    @Flag(help: "Print NDJSON events on standard output.") var json = false
    @Option(name: .customLong("allow-peer-network"), help: "Use peers in this network although the address policy refuses it, e.g. 127.0.0.0/8 (repeatable; config key allow_peer_networks).")
    var allowPeerNetworks: [String] = []
    @OptionGroup var tls: TLSOptions
    @OptionGroup var security: SecurityOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        common.bootstrap(defaultLevel: .warning)
        var progress: String?
        if json { progress = "json" } else if quiet { progress = "quiet" }
        let reader = try await common.reader(security.flags + tls.flags + ["allow_peer_networks": allowPeerNetworks.isEmpty ? nil : .stringArray(allowPeerNetworks)] + [
            "output": output.map { .string($0) }, "download_dir": dir.map { .string($0) }, "tracker": trackers.isEmpty ? nil : .stringArray(trackers),
            "connections": connections.map { .int($0) }, "piece_size": pieceSize.map { .string($0) },
            "self": noSelf ? .bool(false) : nil, "self_direct": selfDirect ? .bool(true) : nil, "overwrite": overwrite ? .bool(true) : nil, "progress": progress.map { .string($0) },
            "resume": noResume ? .bool(false) : nil, "restart_on_change": restartOnChange ? .bool(true) : nil,
            "checksum": checksum.map { .string($0) }, "sha256": noSha256 ? .bool(false) : nil, "verify_peers": verifyPeers.map { .string($0) }, "read_timeout": readTimeout.map { .int($0) },
            "swarm_peers": swarmPeers.map { .int($0) },
            "cache_key_ignore_params": cacheKeyIgnoreParams.isEmpty ? nil : .stringArray(cacheKeyIgnoreParams),
            "seed": noSeed ? .bool(false) : nil, "seed_socket": seedSocket.map { .string($0) },
        ])
        var configuration = try settings { try ClientConfiguration(url: url, reader: reader) }
        configuration.mirrors = mirrors
        if configuration.plainHTTP, !configuration.trackerURLs.isEmpty { TransportSettings.warnPlainHTTP(.get) }
        _ = try settings {
            try SecuritySettings.enforce(.get, token: &configuration.token, insecure: SecuritySettings.insecure(reader), usesSwarm: !configuration.trackerURLs.isEmpty)
        }
        let code = await Roles.runGet(configuration: configuration, logger: Logger(label: "ddl.get"))
        if code != 0 { throw ExitCode(code) }
    }
}

struct PeersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "peers", abstract: "List the peer servers registered with the trackers.")

    @Option(name: .customLong("tracker"), help: "Tracker URL (repeatable: the lists are merged, each peer once; config key tracker).")
    var trackers: [String] = []
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var tls: TLSOptions
    @OptionGroup var security: SecurityOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        common.bootstrap(defaultLevel: .warning)
        let reader = try await common.reader(security.flags + tls.flags + ["tracker": trackers.isEmpty ? nil : .stringArray(trackers)])
        guard !TrackerSettings.urls(reader).isEmpty else {
            throw ValidationError("no tracker given: pass --tracker URL, set DDL_TRACKER or `tracker:` in the config file")
        }
        var token = try settings { try SecuritySettings.token(reader) }
        _ = try settings { try SecuritySettings.enforce(.peers, token: &token, insecure: SecuritySettings.insecure(reader)) }
        let (trackerURLs, fingerprints) = try settings { try TransportSettings.trackers(reader) }
        do {
            try await Roles.listPeers(trackerURLs: trackerURLs, json: json, token: token, fingerprints: fingerprints)
        } catch {
            FileHandle.standardError.write(Data("ddl peers: \(TerminalText.escaped(String(describing: error)))\n".utf8))
            throw ExitCode(3)
        }
    }
}

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "See it work: origin, tracker, peers and a download in one process, checked by SHA-256.")

    @Option(help: "Size of the generated file.") var size: String = "256MiB"
    @Option(help: "Number of peer servers.") var peers: Int = 3
    @Option(name: [.customShort("d"), .long], help: "Directory for the downloaded file (default: a temporary one).") var dir: String?
    @Flag(help: "Keep the downloaded file.") var keep = false
    @Flag(name: .shortAndLong, help: "No progress bar.") var quiet = false
    @Option(help: "Log level.") var logLevel: Logger.Level = .warning

    func run() async throws {
        bootstrapStandardErrorLogging(level: logLevel)
        guard let bytes = ByteSize.parse(size), bytes > 0 else { throw ValidationError("--size must be a size such as 256MiB") }
        guard (0...32).contains(peers) else { throw ValidationError("--peers must be between 0 and 32") }
        var options = Demo.Options()
        options.size = bytes
        options.peers = peers
        options.directory = dir
        options.keep = keep
        options.progress = quiet ? .quiet : .auto
        let code = await Demo.run(options, logger: Logger(label: "ddl.demo"))
        if code != 0 { throw ExitCode(code) }
    }
}

/// `ddl test-origin`: the tests' generated-content origin as a process of its own, for
/// scripts (hidden from the help: not a role of a real swarm).
struct TestOriginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-origin", abstract: "Serve generated content with Range support (for scripts and tests).", shouldDisplay: false)

    @Option(help: "Address to bind.") var host: String = "127.0.0.1"
    @Option(help: "Port to bind (0 picks a free one).") var port: Int = 0
    @Option(help: "Size of the generated file.") var size: String = "64MiB"
    @Option(help: "Throttle each response to this many bytes per second, e.g. 8MiB.") var rate: String?
    @Option(help: "Log level.") var logLevel: Logger.Level = .warning

    func run() async throws {
        bootstrapStandardErrorLogging(level: logLevel)
        guard let bytes = ByteSize.parse(size), bytes > 0 else { throw ValidationError("--size must be a size such as 64MiB") }
        var bytesPerSecond: Int?
        if let rate {
            guard let parsed = ByteSize.parse(rate), parsed > 0 else { throw ValidationError("--rate must be a size such as 8MiB") }
            bytesPerSecond = Int(parsed)
        }
        try await Roles.runTestOrigin(host: host, port: port, size: bytes, bytesPerSecond: bytesPerSecond, logger: Logger(label: "ddl.test-origin"))
    }
}

/// `--print-fingerprint`: the role's identity in the state directory (made when absent).
func printIdentityFingerprint(_ role: SecuritySettings.Role, _ reader: ConfigReader) throws {
    let path = TransportSettings.identityPath(stateDirectory: TransportSettings.stateDirectory(reader), role: role)
    let identity = try settings { try TLSIdentity.loadOrCreate(at: path, commonName: "ddl \(role.rawValue)") }
    FileHandle.standardOutput.write(Data((identity.fingerprint.description + "\n").utf8))
}

/// Logs to standard error at `level` (the demo and the test origin, which take no config).
func bootstrapStandardErrorLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
