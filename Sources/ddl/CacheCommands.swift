import ArgumentParser
import Configuration
import DDLApp
import DDLClient
import DDLCore
import DDLTLS
import Foundation
import Logging

struct PreheatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preheat", abstract: "Fill the swarm's peer caches with a file, without saving it here.")

    @Argument(help: "The http:// or https:// URL to preheat.") var url: String
    @Option(name: .customLong("tracker"), help: "Tracker URL (repeatable; config key tracker).")
    var trackers: [String] = []
    @Option(help: "Piece size, when the downloads that follow will use one (default: as `ddl get` chooses).") var pieceSize: String?
    @Option(help: "Most peers to fill, as the downloads that follow will use (default 64; config key swarm_peers).") var swarmPeers: Int?
    @Option(name: .customLong("cache-key-ignore-param"), help: "A query parameter left out of the file's key for piece owners besides the signing parameters (repeatable; config key cache_key_ignore_params; as the downloads that follow).")
    var cacheKeyIgnoreParams: [String] = []
    @Flag(help: "Print the result as JSON.") var json = false
    @OptionGroup var tls: TLSOptions
    @OptionGroup var security: SecurityOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        common.bootstrap(defaultLevel: .warning)
        let reader = try await common.reader(security.flags + tls.flags + [
            "tracker": trackers.isEmpty ? nil : .stringArray(trackers), "piece_size": pieceSize.map { .string($0) },
            "swarm_peers": swarmPeers.map { .int($0) },
            "cache_key_ignore_params": cacheKeyIgnoreParams.isEmpty ? nil : .stringArray(cacheKeyIgnoreParams),
        ])
        var configuration = try settings { try ClientConfiguration(url: url, reader: reader) }
        _ = try settings {
            try SecuritySettings.enforce(.get, token: &configuration.token, insecure: SecuritySettings.insecure(reader), usesSwarm: true)
        }
        let code = await Roles.runPreheat(configuration: configuration, json: json, logger: Logger(label: "ddl.preheat"))
        if code != 0 { throw ExitCode(code) }
    }
}

struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "List or empty a peer server's cache.", subcommands: [List.self, Remove.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the files a peer's cache holds.")
        @Option(help: "The peer, e.g. 10.0.0.7:6000 (default 127.0.0.1:6000).") var peer: String = "127.0.0.1:6000"
        @Flag(help: "Print JSON.") var json = false
        @OptionGroup var target: CachePeerOptions
        @OptionGroup var security: SecurityOptions
        @OptionGroup var common: CommonOptions

        func run() async throws {
            common.bootstrap(defaultLevel: .warning)
            let reader = try await common.reader(security.flags + target.flags)
            var token = try settings { try SecuritySettings.token(reader) }
            _ = try settings { try SecuritySettings.enforce(.peers, token: &token, insecure: SecuritySettings.insecure(reader)) }
            let fingerprint = try target.fingerprint(reader)
            do {
                try await Roles.listCache(peer: peer, json: json, token: token, fingerprint: fingerprint)
            } catch {
                FileHandle.standardError.write(Data("ddl cache ls: \(error)\n".utf8))
                throw ExitCode(3)
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a file (by the id `ddl cache ls` shows) or all files from a peer's cache.")
        @Argument(help: "The id of the cached file.") var id: String?
        @Flag(help: "Remove every cached file.") var all = false
        @Option(help: "The peer, e.g. 10.0.0.7:6000 (default 127.0.0.1:6000).") var peer: String = "127.0.0.1:6000"
        @OptionGroup var target: CachePeerOptions
        @OptionGroup var security: SecurityOptions
        @OptionGroup var common: CommonOptions

        func validate() throws {
            if (id == nil) == !all { throw ValidationError("give the id of a cached file, or --all") }
        }

        func run() async throws {
            common.bootstrap(defaultLevel: .warning)
            let reader = try await common.reader(security.flags + target.flags)
            var token = try settings { try SecuritySettings.token(reader) }
            _ = try settings { try SecuritySettings.enforce(.peers, token: &token, insecure: SecuritySettings.insecure(reader)) }
            let fingerprint = try target.fingerprint(reader)
            do {
                try await Roles.removeCached(peer: peer, id: all ? nil : id, token: token, fingerprint: fingerprint)
            } catch {
                FileHandle.standardError.write(Data("ddl cache rm: \(error)\n".utf8))
                throw ExitCode(3)
            }
        }
    }
}

/// How `ddl cache` trusts the peer it talks to.
struct CachePeerOptions: ParsableArguments {
    @Option(help: "The fingerprint of the peer's certificate, sha256:HEX (`ddl peers --json` lists it). Default: this machine's own peer certificate, from the state directory.")
    var peerFingerprint: String?

    @Option(help: "The state directory of this machine's peer server (config key state_dir; default ~/.local/state/ddl).") var stateDir: String?

    @Flag(help: "Talk plain HTTP to a peer started with --plain-http: the token crosses the LAN in clear (config key plain_http).")
    var plainHTTP = false

    var flags: [String: ConfigContent?] {
        ["state_dir": stateDir.map { .string($0) }, "plain_http": plainHTTP ? .bool(true) : nil]
    }

    /// The fingerprint to pin: given, or this machine's server identity; `nil` with plain HTTP.
    func fingerprint(_ reader: ConfigReader) throws -> CertificateFingerprint? {
        if try settings({ try TransportSettings.plainHTTP(reader) }) { return nil }
        if let peerFingerprint {
            guard let parsed = CertificateFingerprint(peerFingerprint) else {
                throw ValidationError("--peer-fingerprint must look like sha256:<64 hex digits>, got \(peerFingerprint)")
            }
            return parsed
        }
        let path = TransportSettings.identityPath(stateDirectory: TransportSettings.stateDirectory(reader), role: .server)
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("no peer fingerprint: pass --peer-fingerprint (see `ddl peers --json`), or --plain-http for a peer without TLS (no local peer identity at \(path))")
        }
        return try settings { try TLSIdentity.load(at: path).fingerprint }
    }
}
