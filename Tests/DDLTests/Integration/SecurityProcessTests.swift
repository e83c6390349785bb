import AsyncHTTPClient
import DDLCore
import DDLTestOrigin
import DDLTrackerClient
import Foundation
import Testing

/// Secure-by-default behaviour of the `ddl` binary.
extension ProcessTests {
    @Test func rolesRefuseToStartWithoutAToken() async throws {
        let directory = try makeTemporaryDirectory()
        let cases: [(String, [String])] = [
            ("server", ["server", "--host", "127.0.0.1", "--port", "0"]),
            ("server-tracker", ["server", "--tracker", "https://127.0.0.1:1", "--host", "127.0.0.1", "--port", "0"]),
            ("peers", ["peers", "--tracker", "https://127.0.0.1:1"]),
            ("get", ["get", "http://127.0.0.1:1/files/a", "--tracker", "https://127.0.0.1:1", "-d", directory]),
        ]
        for (name, arguments) in cases {
            let child = try Child(arguments, directory: directory, name: name, environment: ["DDL_TOKEN": nil])
            #expect(try await child.waitForExit() == 64, "\(name)")
            let message = (try? String(contentsOfFile: directory + "/\(name).err", encoding: .utf8)) ?? ""
            #expect(message.contains("token") && message.contains("--insecure"), "\(name): \(message)")
        }
        // A bad allow-list entry is a usage error too.
        let bad = try Child(["server", "--token", "t", "--allow-network", "10.0.0.0/99", "--port", "0"], directory: directory, name: "bad-net")
        #expect(try await bad.waitForExit() == 64)
    }

    @Test func noRoleLogsTheTokenAtTraceLevel() async throws {
        let directory = try makeTemporaryDirectory()
        let token = SwarmToken.generate()
        let trace: [String: String?] = ["DDL_LOG_LEVEL": "trace", "DDL_TOKEN": token]  // not on the command line: not in argv either
        let origin = TestOrigin(length: 3 << 20)
        let originPort = Eventually<Int>()
        try await withServices([origin.makeApplication(logger: testLogger) { await originPort.set($0) }]) {
            let tracker = try Child(["tracker", "--host", "127.0.0.1", "--port", "0", "--allow-peer-network", "127.0.0.0/8"],
                                    directory: directory, name: "tracker", environment: trace)
            let trackerURL = "https://127.0.0.1:\(try await tracker.listeningPort())"
            let fingerprint = try await tracker.fingerprint()
            let server = try Child(["server", "--tracker", trackerURL, "--tracker-fingerprint", fingerprint.description, "--host", "127.0.0.2", "--port", "0",
                                    "--allow-network", "127.0.0.0/8"], directory: directory, name: "server", environment: trace)
            _ = try await server.listeningPort()
            try await withHTTPClient { client in
                let tracker = TrackerClient(baseURL: trackerURL, httpClient: client, token: token, fingerprints: [fingerprint])
                let registered = try await eventually(within: 10) { (try? await tracker.peers().count) == 1 }
                #expect(registered)
            }
            let get = try Child(["get", "http://127.0.0.1:\(try await originPort.wait())/files/t.bin", "-o", directory + "/t.bin", "--tracker", trackerURL,
                                 "--tracker-fingerprint", fingerprint.description, "--allow-peer-network", "127.0.0.0/8", "--piece-size", "256KiB", "--quiet"],
                                directory: directory, name: "get", environment: trace)
            #expect(try await get.waitForExit(seconds: 60) == 0)
            server.signal(SIGTERM)
            #expect(try await server.waitForExit() == 0)
            tracker.signal(SIGTERM)
            #expect(try await tracker.waitForExit() == 0)
        }
        for name in ["tracker", "server", "get"] {
            let log = (try? String(contentsOfFile: directory + "/\(name).err", encoding: .utf8)) ?? ""
            #expect(log.contains("trace") || log.contains("debug"), "\(name) logged nothing at trace level")
            #expect(!log.contains(token), "ddl \(name) logged the token")
        }
    }

    @Test func trackerGeneratesAndPrintsATokenAndInsecureServerWarns() async throws {
        let directory = try makeTemporaryDirectory()
        let tracker = try Child(["tracker", "--host", "127.0.0.1", "--port", "0"], directory: directory, name: "tracker", environment: ["DDL_TOKEN": nil])
        let port = try await tracker.listeningPort()
        let printed = try await eventually(within: 5) { tracker.output.contains("ddl get URL --tracker") }
        #expect(printed)
        let fingerprint = try await tracker.fingerprint()
        let line = tracker.output.split(separator: "\n").first {
            $0.contains("ddl server --tracker https://127.0.0.1:\(port) --tracker-fingerprint \(fingerprint) --token ")
        }
        let token = try #require(line.map { String($0.split(separator: " ").last!) })
        #expect(token.utf8.count == 43)
        try await withHTTPClient { client in
            let trackerURL = "https://127.0.0.1:\(port)"
            #expect(try await TrackerClient(baseURL: trackerURL, httpClient: client, token: token, fingerprints: [fingerprint]).peers().isEmpty)
            await #expect(throws: (any Error).self) { try await TrackerClient(baseURL: trackerURL, httpClient: client, fingerprints: [fingerprint]).peers() }

            // --insecure: an open peer, with a loud warning; it cannot join the tokened tracker.
            let server = try Child(["server", "--insecure", "--host", "127.0.0.1", "--port", "0"], directory: directory, name: "open", environment: ["DDL_TOKEN": nil])
            _ = try await server.listeningPort()
            let warning = (try? String(contentsOfFile: directory + "/open.err", encoding: .utf8)) ?? ""
            #expect(warning.contains("WARNING") && warning.contains("OPEN SWARM"))
            server.signal(SIGTERM)
            #expect(try await server.waitForExit() == 0)
        }
        tracker.signal(SIGINT)
        #expect(try await tracker.waitForExit() == 0)
    }

    @Test func demoWorksWithNoSecurityFlags() async throws {
        let directory = try makeTemporaryDirectory()
        let demo = try Child(["demo", "--size", "8MiB", "--quiet"], directory: directory, name: "demo", environment: ["DDL_TOKEN": nil])
        #expect(try await demo.waitForExit(seconds: 120) == 0, "\(demo.output)")
        #expect(demo.output.contains("SHA-256 matches"))
    }
}
