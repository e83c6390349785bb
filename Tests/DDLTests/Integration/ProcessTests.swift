import AsyncHTTPClient
import Crypto
import DDLCore
import DDLTestOrigin
import DDLTrackerClient
import Foundation
import Testing

/// Runs the built `ddl` binary as separate processes: a tracker, two peer servers on
/// 127.0.0.2 and 127.0.0.3, and `ddl get`.
@Suite(.serialized) struct ProcessTests {
    /// The `ddl` executable next to the test bundle (or `DDL_BIN`).
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["DDL_BIN"] { return path }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ddl").path
    }

    /// A child process whose standard output goes to a file we can poll.
    final class Child: @unchecked Sendable {
        let process = Process()
        let outputPath: String

        init(_ arguments: [String], directory: String, name: String, environment overrides: [String: String?] = [:]) throws {
            outputPath = directory + "/\(name).out"
            _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
            _ = FileManager.default.createFile(atPath: directory + "/\(name).err", contents: nil)
            process.executableURL = URL(fileURLWithPath: ProcessTests.binary)
            process.arguments = arguments
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/\(name).err"))
            var environment = ProcessInfo.processInfo.environment
            environment["DDL_LOG_LEVEL"] = "info"
            // Each child its own cache directory (a peer locks its own) and state directory
            // (its TLS identity).
            environment["XDG_CACHE_HOME"] = "\(directory)/cache-\(name)"
            environment["XDG_STATE_HOME"] = "\(directory)/state-\(name)"
            for (key, value) in overrides { environment[key] = value }
            process.environment = environment
            try process.run()
        }

        var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

        /// Waits for `listening on http://HOST:PORT` and returns the port.
        func listeningPort() async throws -> Int {
            for _ in 0..<500 {
                if let range = output.range(of: #"listening on https?://[^ ]+:(\d+)"#, options: .regularExpression) {
                    let match = output[range]
                    if let colon = match.lastIndex(of: ":"), let port = Int(match[match.index(after: colon)...]) { return port }
                }
                if !process.isRunning { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw ProcessFailure(message: "no 'listening on' line; output: \(output)")
        }

        /// Waits for the tracker's `certificate fingerprint sha256:…` line.
        func fingerprint() async throws -> CertificateFingerprint {
            _ = try await listeningPort()
            guard let range = output.range(of: #"certificate fingerprint sha256:[0-9a-f]{64}"#, options: .regularExpression),
                  let fingerprint = CertificateFingerprint(String(output[range].dropFirst("certificate fingerprint ".count)))
            else { throw ProcessFailure(message: "no fingerprint line; output: \(output)") }
            return fingerprint
        }

        func signal(_ signal: Int32) { if process.isRunning { kill(process.processIdentifier, signal) } }

        /// Waits up to `seconds` for the process to exit; returns its status, or nil.
        func waitForExit(seconds: Double = 20) async throws -> Int32? {
            let ok = try await eventually(within: seconds) { !self.process.isRunning }
            return ok ? process.terminationStatus : nil
        }

        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    /// A tracker and peer servers on 127.0.0.2, 127.0.0.3, … as separate processes, with a
    /// fresh token; returns once every server is registered.
    struct Swarm {
        let tracker: Child
        let servers: [Child]
        let trackerURL: String
        let token: String
        /// The tracker's certificate fingerprint, which every other process pins.
        let fingerprint: CertificateFingerprint
        /// `--tracker-fingerprint FINGERPRINT`, for the command lines of the swarm's clients.
        var trust: [String] { ["--tracker-fingerprint", fingerprint.description] }

        /// A client of the tracker, pinning its certificate.
        func trackerClient(_ client: HTTPClient) -> TrackerClient {
            TrackerClient(baseURL: trackerURL, httpClient: client, token: token, fingerprints: [fingerprint])
        }

        static func start(directory: String, ttl: Int, servers count: Int = 2, client: HTTPClient) async throws -> Swarm {
            let token = SwarmToken.generate()
            let tracker = try Child(["tracker", "--host", "127.0.0.1", "--port", "0", "--ttl", String(ttl), "--token", token, "--allow-peer-network", "127.0.0.0/8"], directory: directory, name: "tracker")
            let trackerURL = "https://127.0.0.1:\(try await tracker.listeningPort())"
            let fingerprint = try await tracker.fingerprint()
            let servers = try (0..<count).map { index in
                try Child(["server", "--tracker", trackerURL, "--tracker-fingerprint", fingerprint.description, "--host", "127.0.0.\(index + 2)", "--port", "0",
                           "--name", "p\(index)", "--token", token, "--allow-network", "127.0.0.0/8"], directory: directory, name: "server\(index)")
            }
            for server in servers { _ = try await server.listeningPort() }
            let swarm = Swarm(tracker: tracker, servers: servers, trackerURL: trackerURL, token: token, fingerprint: fingerprint)
            let trackerClient = swarm.trackerClient(client)
            let registered = try await eventually(within: 10) { (try? await trackerClient.peers().count) == count }
            #expect(registered)
            return swarm
        }
    }

    struct ProcessFailure: Error, CustomStringConvertible { var message: String; var description: String { message } }

    @Test func trackerTwoServersAndGetAsSeparateProcesses() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary), "build the ddl binary first (swift build)")
        let directory = try makeTemporaryDirectory()
        let origin = TestOrigin(length: 12 << 20 + 999)
        let originPort = Eventually<Int>()
        try await withServices([origin.makeApplication(logger: testLogger) { await originPort.set($0) }]) {
            let fileURL = "http://127.0.0.1:\(try await originPort.wait())/files/proc.bin"
            try await withHTTPClient { client in
                let swarm = try await Swarm.start(directory: directory, ttl: 5, client: client)
                let (tracker, servers, trackerURL, token) = (swarm.tracker, swarm.servers, swarm.trackerURL, swarm.token)
                let trackerClient = swarm.trackerClient(client)
                #expect(Set(try await trackerClient.peers().map(\.host)) == ["127.0.0.2", "127.0.0.3"])
                // Every peer registered its own certificate's fingerprint.
                #expect(try await trackerClient.peers().allSatisfy { $0.fingerprint != nil && $0.fingerprint != swarm.fingerprint })

                // ddl peers --json
                let peers = try Child(["peers", "--tracker", trackerURL, "--json", "--token", token] + swarm.trust, directory: directory, name: "peers")
                #expect(try await peers.waitForExit() == 0)
                #expect(peers.output.contains("127.0.0.2") && peers.output.contains("127.0.0.3"))

                let target = directory + "/downloaded.bin"
                let get = try Child(["get", fileURL, "-o", target, "--tracker", trackerURL, "--allow-peer-network", "127.0.0.0/8", "--piece-size", "1MiB", "--json", "--token", token] + swarm.trust,
                                    directory: directory, name: "get")
                let status = try await get.waitForExit(seconds: 60)
                #expect(status == 0, "ddl get failed: \(get.output)")
                #expect(try sha256(ofFile: target) == origin.content.sha256())
                let finished = get.output.split(separator: "\n").last { $0.contains("\"event\":\"finished\"") }.map(String.init) ?? ""
                #expect(finished.contains(origin.content.sha256()))
                // Both peers are sources; which of them delivers how much is the scheduler's
                // call (a peer process slow to answer on a loaded machine may deliver nothing).
                let started = get.output.split(separator: "\n").first { $0.contains("\"event\":\"started\"") }.map(String.init) ?? ""
                #expect(started.contains("peer 127.0.0.2:") && started.contains("peer 127.0.0.3:"), "\(get.output)")
                #expect(finished.contains("peer 127.0.0.2:") || finished.contains("peer 127.0.0.3:"), "\(get.output)\n\((try? String(contentsOfFile: directory + "/get.err", encoding: .utf8)) ?? "")")
                // Every peer's first delivery is spot-checked: one event per window, and the
                // outcomes per source in the summary.
                #expect(get.output.contains("\"event\":\"spotCheck\"") && get.output.contains("\"outcome\":\"confirmed\""))
                #expect(finished.contains("\"checks\":{") && finished.contains("\"caught\":0"), "\(finished)")

                // SIGTERM: servers deregister at once, then exit 0.
                for server in servers { server.signal(SIGTERM) }
                for server in servers { #expect(try await server.waitForExit() == 0) }
                #expect(try await trackerClient.peers().isEmpty)
                tracker.signal(SIGINT)
                #expect(try await tracker.waitForExit() == 0)
            }
        }
    }

    @Test func getExitCodesForUsageAndOriginErrors() async throws {
        let directory = try makeTemporaryDirectory()
        let origin = TestOrigin(length: 1000)
        let originPort = Eventually<Int>()
        try await withServices([origin.makeApplication(logger: testLogger) { await originPort.set($0) }]) {
            let base = "http://127.0.0.1:\(try await originPort.wait())"
            let missing = try Child(["get", base + "/nope", "-d", directory, "--quiet"], directory: directory, name: "missing")
            #expect(try await missing.waitForExit() == 4)
            let usage = try Child(["get", base + "/files/a", "--connections", "0"], directory: directory, name: "usage")
            #expect(try await usage.waitForExit() == 64)
            let scheme = try Child(["get", "ftp://example/x", "-d", directory], directory: directory, name: "scheme")
            #expect(try await scheme.waitForExit() == 64)
            let ok = try Child(["get", base + "/files/a", "-d", directory, "--quiet"], directory: directory, name: "ok")
            #expect(try await ok.waitForExit() == 0)
            #expect(FileManager.default.fileExists(atPath: directory + "/a"))
            // --no-sha256 reaches the download: the finished event has no digest.
            let noHash = try Child(["get", base + "/files/b", "-d", directory, "--json", "--no-sha256"], directory: directory, name: "nohash")
            #expect(try await noHash.waitForExit() == 0)
            #expect(noHash.output.contains(#""event":"finished""#) && noHash.output.contains(#""sha256":null"#), "output: \(noHash.output)")
            #expect(try sha256(ofFile: directory + "/b") == origin.content.sha256())
        }
    }

    /// `--checksum auto` (the default) through the command line: where the digest came from
    /// in the summary and the `finished` event, exit code 5 on a mismatch, `--checksum none`.
    @Test func getReportsWhereThePublishedDigestCameFrom() async throws {
        let directory = try makeTemporaryDirectory()
        let origin = TestOrigin(length: 3000)
        let right = origin.digest(SHA256.self).hex
        origin.update { $0.checksumFiles = ["SHA256SUMS": "\(right)  c\n\(String(repeating: "0", count: 64))  d\n"] }
        let originPort = Eventually<Int>()
        try await withServices([origin.makeApplication(logger: testLogger) { await originPort.set($0) }]) {
            let base = "http://127.0.0.1:\(try await originPort.wait())"
            let json = try Child(["get", base + "/files/c", "-d", directory, "--json"], directory: directory, name: "json")
            #expect(try await json.waitForExit() == 0)
            #expect(json.output.contains(#""verified":{"algorithm":"sha-256","source":"SHA256SUMS"}"#), "output: \(json.output)")
            #expect(json.output.contains(#""digest":"verified""#))
            let plain = try Child(["get", base + "/files/c", "-o", directory + "/c2"], directory: directory, name: "plain", environment: ["DDL_PROGRESS": "plain"])
            #expect(try await plain.waitForExit() == 0)
            let summary = (try? String(contentsOfFile: directory + "/plain.err", encoding: .utf8)) ?? ""
            #expect(summary.contains("  verified sha-256 from SHA256SUMS\n"), "standard error: \(summary)")

            let wrong = try Child(["get", base + "/files/d", "-d", directory, "--quiet"], directory: directory, name: "wrong")
            #expect(try await wrong.waitForExit() == 5)
            #expect(!FileManager.default.fileExists(atPath: directory + "/d"))
            #expect(FileManager.default.fileExists(atPath: directory + "/d.part"))
            let none = try Child(["get", base + "/files/d", "-d", directory, "--checksum", "none", "--json"], directory: directory, name: "none")
            #expect(try await none.waitForExit() == 0)
            #expect(none.output.contains(#""digest":"not-checked""#) && none.output.contains(#""verified":null"#), "output: \(none.output)")
            #expect(try sha256(ofFile: directory + "/d") == origin.content.sha256())
            let usage = try Child(["get", base + "/files/e", "-d", directory, "--checksum", "sha-256=nope"], directory: directory, name: "usage")
            #expect(try await usage.waitForExit() == 64)
        }
    }
}
