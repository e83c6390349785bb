import Configuration
import DDLApp
import DDLClient
import DDLPeer
import DDLTracker
import Foundation
import Testing

@Suite struct ConfigPrecedenceTests {
    func writeYAML(_ text: String) throws -> String {
        let path = try makeTemporaryDirectory() + "/client.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func defaultsApplyWhenNothingIsSet() async throws {
        let reader = try await ConfigLoader.reader(flags: [:], configFile: nil, environment: [:])
        let client = try ClientConfiguration(url: "http://x/", reader: reader)
        #expect(client.connections == 4)
        #expect(client.downloadDirectory == ".")
        #expect(client.trackerURLs.isEmpty)
        #expect(client.useSelf)
        #expect(client.computeSHA256)
        let tracker = try TrackerConfiguration(reader: reader)
        #expect(tracker.port == 5000)
        #expect(tracker.ttlSeconds == 30)
    }

    @Test func flagsOverEnvironmentOverFileOverDefaults() async throws {
        let file = try writeYAML("""
            tracker: https://file:5000
            connections: 3
            download_dir: /from/file
            piece_size: 8MiB
            self: false
            sha256: true
            """)
        let environment = ["DDL_CONNECTIONS": "5", "DDL_DOWNLOAD_DIR": "/from/env", "DDL_SHA256": "false"]
        let reader = try await ConfigLoader.reader(flags: ["connections": .int(7)], configFile: file, environment: environment)
        let client = try ClientConfiguration(url: "http://x/", reader: reader)
        #expect(client.connections == 7)  // flag
        #expect(client.downloadDirectory == "/from/env")  // env over file
        #expect(!client.computeSHA256)  // env over file
        #expect(client.trackerURLs == ["https://file:5000"])  // file over default
        #expect(client.pieceSize == 8 << 20)
        #expect(!client.useSelf)
        #expect(client.readTimeoutSeconds == 30)  // default
    }

    @Test func metricsAreOnByDefaultAndTurnedOffByFlagEnvironmentOrFile() async throws {
        func roles(flags: [String: ConfigContent] = [:], file: String? = nil, _ environment: [String: String] = [:]) async throws
            -> (tracker: Bool, server: Bool)
        {
            let reader = try await ConfigLoader.reader(flags: flags, configFile: file, environment: environment)
            return (try TrackerConfiguration(reader: reader).metrics, try PeerConfiguration(reader: reader).metrics)
        }
        #expect(try await roles() == (true, true))
        #expect(try await roles(["DDL_METRICS": "false"]) == (false, false))
        #expect(try await roles(["DDL_METRICS": "no"]) == (false, false))
        #expect(try await roles(file: try writeYAML("metrics: false\n")) == (false, false))
        #expect(try await roles(flags: ["metrics": .bool(false)], ["DDL_METRICS": "true"]) == (false, false))  // --no-metrics over env
        #expect(try await roles(file: try writeYAML("metrics: false\n"), ["DDL_METRICS": "true"]) == (true, true))  // env over file
        await #expect(throws: ConfigLoader.Failure.self) { _ = try await roles(["DDL_METRICS": "sometimes"]) }
        // The description says what to fix.
        do {
            _ = try await roles(["DDL_METRICS": "sometimes"])
        } catch let failure as ConfigLoader.Failure {
            #expect(failure.description == "metrics must be true or false, got sometimes")
        }
    }

    @Test func checksumIsAutoNoneOrADigest() async throws {
        func client(_ environment: [String: String]) async throws -> ClientConfiguration {
            try ClientConfiguration(url: "http://x/", reader: try await ConfigLoader.reader(flags: [:], configFile: nil, environment: environment))
        }
        let defaults = try await client([:])
        #expect(defaults.discoverDigests && defaults.checksum == nil)
        let auto = try await client(["DDL_CHECKSUM": "AUTO"])
        #expect(auto.discoverDigests && auto.checksum == nil)
        let none = try await client(["DDL_CHECKSUM": "none"])
        #expect(!none.discoverDigests && none.checksum == nil)
        let explicit = try await client(["DDL_CHECKSUM": "sha-512=" + String(repeating: "a", count: 128)])
        #expect(explicit.checksum?.algorithm == .sha512)
        await #expect {
            _ = try await client(["DDL_CHECKSUM": "off"])
        } throws: { error in
            String(describing: error).contains("checksum must be auto, none, or look like sha-256=HEX")
        }
    }

    @Test func swarmPeersComesFromFlagEnvironmentOrFileWithinBounds() async throws {
        func client(flags: [String: ConfigContent] = [:], file: String? = nil, _ environment: [String: String] = [:]) async throws -> ClientConfiguration {
            try ClientConfiguration(url: "http://x/", reader: try await ConfigLoader.reader(flags: flags, configFile: file, environment: environment))
        }
        #expect(try await client().swarmPeers == 64)
        #expect(try await client(file: try writeYAML("swarm_peers: 16\n")).swarmPeers == 16)
        #expect(try await client(file: try writeYAML("swarm_peers: 16\n"), ["DDL_SWARM_PEERS": "8"]).swarmPeers == 8)
        #expect(try await client(flags: ["swarm_peers": .int(3)], ["DDL_SWARM_PEERS": "8"]).swarmPeers == 3)
        for bad in ["0", "1001", "many"] {
            await #expect { _ = try await client(["DDL_SWARM_PEERS": bad]) } throws: { String(describing: $0).contains("swarm_peers") }
        }
    }

    @Test func seedingComesFromFlagEnvironmentOrFile() async throws {
        func client(flags: [String: ConfigContent] = [:], file: String? = nil, _ environment: [String: String] = [:]) async throws -> ClientConfiguration {
            try ClientConfiguration(url: "http://x/", reader: try await ConfigLoader.reader(flags: flags, configFile: file, environment: environment))
        }
        #expect(try await client().seed)
        #expect(try await client().seedSocket == nil)
        #expect(try await !client(file: try writeYAML("seed: false\n")).seed)
        #expect(try await client(file: try writeYAML("seed: false\n"), ["DDL_SEED": "true"]).seed)
        #expect(try await !client(flags: ["seed": .bool(false)], ["DDL_SEED": "true"]).seed)
        let file = try writeYAML("seed_socket: /var/cache/ddl/.seed/seed.sock\n")
        #expect(try await client(file: file).seedSocket == "/var/cache/ddl/.seed/seed.sock")
        #expect(try await client(file: file, ["DDL_SEED_SOCKET": "/run/p/.seed/seed.sock"]).seedSocket == "/run/p/.seed/seed.sock")
        #expect(try await client(flags: ["seed_socket": .string("/x/.seed/seed.sock")], ["DDL_SEED_SOCKET": "/run/p/.seed/seed.sock"]).seedSocket == "/x/.seed/seed.sock")
    }

    @Test func cacheKeyIgnoreParamsIsAListForPeersAndClients() async throws {
        func reader(flags: [String: ConfigContent] = [:], file: String? = nil, _ environment: [String: String] = [:]) async throws -> ConfigReader {
            try await ConfigLoader.reader(flags: flags, configFile: file, environment: environment)
        }
        #expect(try ClientConfiguration(url: "http://x/", reader: try await reader()).cacheKeyIgnoreParams.isEmpty)
        #expect(try PeerConfiguration(reader: try await reader()).cacheKeyIgnoreParams.isEmpty)
        let file = try writeYAML("cache_key_ignore_params:\n  - token\n  - exp\n")
        #expect(try ClientConfiguration(url: "http://x/", reader: try await reader(file: file)).cacheKeyIgnoreParams == ["token", "exp"])
        #expect(try PeerConfiguration(reader: try await reader(file: file)).cacheKeyIgnoreParams == ["token", "exp"])
        // One comma-separated string (an environment variable) over the file; flags over both.
        let environment = ["DDL_CACHE_KEY_IGNORE_PARAMS": "auth, hdnts"]
        #expect(try PeerConfiguration(reader: try await reader(file: file, environment)).cacheKeyIgnoreParams == ["auth", "hdnts"])
        let flags: [String: ConfigContent] = ["cache_key_ignore_params": .stringArray(["sig2"])]
        #expect(try ClientConfiguration(url: "http://x/", reader: try await reader(flags: flags, environment)).cacheKeyIgnoreParams == ["sig2"])
        for bad in ["a=b", "x&y", "has space"] {
            await #expect {
                _ = try PeerConfiguration(reader: try await reader(["DDL_CACHE_KEY_IGNORE_PARAMS": bad]))
            } throws: { String(describing: $0).contains("cache_key_ignore_params") }
        }
    }

    @Test func invalidValuesAreRejectedWithTheKeyName() async throws {
        let reader = try await ConfigLoader.reader(flags: [:], configFile: nil, environment: ["DDL_CONNECTIONS": "0"])
        #expect(throws: ConfigLoader.Failure.self) { try ClientConfiguration(url: "http://x/", reader: reader) }
        let badSize = try await ConfigLoader.reader(flags: [:], configFile: nil, environment: ["DDL_PIECE_SIZE": "lots"])
        let error = #expect(throws: ConfigLoader.Failure.self) { try ClientConfiguration(url: "http://x/", reader: badSize) }
        #expect(error?.description.contains("piece_size") == true)
    }

    @Test func missingConfigFileIsAnError() async throws {
        await #expect(throws: ConfigLoader.Failure.self) {
            _ = try await ConfigLoader.reader(flags: [:], configFile: "/nonexistent/ddl.yaml", environment: [:])
        }
    }

    @Test func serverSettingsFromFile() async throws {
        let file = try writeYAML("""
            tracker: https://t:5000
            host: 127.0.0.9
            port: 6001
            max_fetches: 4
            """)
        let reader = try await ConfigLoader.reader(flags: [:], configFile: file, environment: [:])
        let peer = try PeerConfiguration(reader: reader)
        #expect(peer.trackerURLs == ["https://t:5000"])
        #expect(peer.port == 6001)
        #expect(peer.maxConcurrentFetches == 4)
        #expect(peer.advertisedHost == "127.0.0.9")
    }
}
