import ArgumentParser
import DDLApp
import DDLClient
import Foundation
import Logging

struct PreheatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preheat", abstract: "Fill the swarm's peer caches with a file, without saving it here.")

    @Argument(help: "The http:// or https:// URL to preheat.") var url: String
    @Option(name: .customLong("tracker"), help: "Tracker URL (repeatable; config key tracker).")
    var trackers: [String] = []
    @Option(help: "Piece size, when the downloads that follow will use one (default: as `ddl get` chooses).") var pieceSize: String?
    @Flag(help: "Print the result as JSON.") var json = false
    @OptionGroup var security: SecurityOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        common.bootstrap(defaultLevel: .warning)
        let reader = try await common.reader(security.flags + [
            "tracker": trackers.isEmpty ? nil : .stringArray(trackers), "piece_size": pieceSize.map { .string($0) },
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
        @OptionGroup var security: SecurityOptions
        @OptionGroup var common: CommonOptions

        func run() async throws {
            common.bootstrap(defaultLevel: .warning)
            let reader = try await common.reader(security.flags)
            var token = try settings { try SecuritySettings.token(reader) }
            _ = try settings { try SecuritySettings.enforce(.peers, token: &token, insecure: SecuritySettings.insecure(reader)) }
            do {
                try await Roles.listCache(peer: peer, json: json, token: token)
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
        @OptionGroup var security: SecurityOptions
        @OptionGroup var common: CommonOptions

        func validate() throws {
            if (id == nil) == !all { throw ValidationError("give the id of a cached file, or --all") }
        }

        func run() async throws {
            common.bootstrap(defaultLevel: .warning)
            let reader = try await common.reader(security.flags)
            var token = try settings { try SecuritySettings.token(reader) }
            _ = try settings { try SecuritySettings.enforce(.peers, token: &token, insecure: SecuritySettings.insecure(reader)) }
            do {
                try await Roles.removeCached(peer: peer, id: all ? nil : id, token: token)
            } catch {
                FileHandle.standardError.write(Data("ddl cache rm: \(error)\n".utf8))
                throw ExitCode(3)
            }
        }
    }
}
