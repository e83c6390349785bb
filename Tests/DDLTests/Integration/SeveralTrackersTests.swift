import AsyncHTTPClient
import DDLApp
import DDLClient
import DDLCore
import DDLPeer
import DDLTestOrigin
import DDLTracker
import DDLTrackerClient
import Foundation
import ServiceLifecycle
import Testing

/// Several trackers of one swarm: peers register with each, clients ask all of them and
/// merge, and a tracker that is down or stops changes nothing for a download.
@Suite struct SeveralTrackersTests {
    /// A tracker of its own on 127.0.0.1 (with the swarm's token), running while `body` runs;
    /// `body` gets its URL and a function that stops it early (and returns once it has stopped).
    /// Peers heartbeat every ttl/3: a short `ttl` makes them notice a restart soon; a long one
    /// keeps entries nobody heartbeats (registered by hand) listed however slow the machine.
    func withTracker<T: Sendable>(
        token: String?, port bound: Int = 0, ttl: Int = 30,
        _ body: @Sendable (_ url: String, _ stop: @escaping @Sendable () async throws -> Void) async throws -> T
    ) async throws -> T {
        let port = Eventually<Int>()
        var configuration = loopbackTrackerConfiguration(port: bound, ttlSeconds: ttl)
        configuration.token = token
        return try await withStoppableServices(Tracker.makeServices(configuration: configuration, logger: testLogger) { await port.set($0) }) { stop in
            try await body("http://127.0.0.1:\(try await port.wait())", stop)
        }
    }

    /// An HTTP client that gives up on a refused connection at once, as ddl's own clients do
    /// (the default one retries until its 5 s timeout), for the tests and the peers they start.
    func withFailFastClient<T: Sendable>(_ body: @Sendable (HTTPClient) async throws -> T) async throws -> T {
        try await withHTTPClient(PeerServer.makeOriginClient(configuration: PeerConfiguration()), body)
    }

    func swarmOptions(size: Int64, extraTracker: String) -> LocalSwarm.Options {
        var options = LocalSwarm.Options()
        options.originSize = size
        options.peerHosts = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        options.extraTrackerURLs = [extraTracker]
        return options
    }

    /// Waits until the tracker at `url` lists `count` peers.
    func waitForPeers(_ url: String, count: Int, token: String?, client: HTTPClient) async throws {
        let tracker = TrackerClient(baseURL: url, httpClient: client, token: token)
        let listed = try await eventually(within: 10) { (try? await tracker.peers().count) == count }
        #expect(listed, "the tracker at \(url) does not list \(count) peers")
    }

    @Test func aPeerRegistersWithEveryTrackerIndependentlyAndAgainAfterOneRestarts() async throws {
        let peerPort = Eventually<Int>()
        try await withFailFastClient { client in
            try await withTracker(token: nil) { first, _ in
                // The second's short ttl: the peer heartbeats it every 2 s and so finds its
                // restart (a 404) soon.
                try await withTracker(token: nil, port: try await portOutsideTheEphemeralRange(), ttl: 6) { second, stopSecond in
                    let configuration = PeerConfiguration(host: "127.0.0.1", port: 0, trackerURLs: [first, second])
                    let peer = try PeerServer.makeServices(configuration: configuration, httpClient: client, logger: testLogger) { await peerPort.set($0) }
                    try await withServices(peer) {
                        let port = try await peerPort.wait()
                        for url in [first, second] {
                            let tracker = TrackerClient(baseURL: url, httpClient: client)
                            let listed = try await eventually(within: 10) { (try? await tracker.peers().map(\.port)) == [port] }
                            #expect(listed, "the peer is not listed by \(url)")
                        }
                        // One tracker going away leaves the other's registration alone.
                        try await stopSecond()
                        await #expect(throws: (any Error).self) { try await TrackerClient(baseURL: second, httpClient: client).peers() }
                        #expect(try await TrackerClient(baseURL: first, httpClient: client).peers().map(\.port) == [port])
                        // The second tracker restarts, empty, on its port: the peer registers with it
                        // again (its heartbeat is refused, then answered 404), the first is untouched.
                        let secondPort = try #require(Int(second.split(separator: ":").last ?? ""))
                        try await withTracker(token: nil, port: secondPort, ttl: 6) { restarted, _ in
                            let tracker = TrackerClient(baseURL: restarted, httpClient: client)
                            let listed = try await eventually(within: 15) { (try? await tracker.peers().map(\.port)) == [port] }
                            #expect(listed, "the peer did not register again with the restarted tracker")
                            #expect(try await TrackerClient(baseURL: first, httpClient: client).peers().map(\.port) == [port])
                        }
                    }
                    // Deregistered from the tracker still running on the way out.
                    #expect(try await TrackerClient(baseURL: first, httpClient: client).peers().isEmpty)
                }
            }
        }
    }

    @Test func aDownloadWhoseFirstTrackerIsDownUsesTheSecondOnesPeers() async throws {
        let size: Int64 = 6 << 20 + 777
        try await withFailFastClient { client in
            let token = SwarmToken.generate()
            try await withTracker(token: token) { second, _ in
                var options = swarmOptions(size: size, extraTracker: second)
                options.token = token
                try await LocalSwarm.run(options) { swarm in
                    try await waitForPeers(second, count: 3, token: token, client: client)
                    var configuration = ClientConfiguration(url: swarm.fileURL())
                    // Nothing listens on port 1: refused at once.
                    configuration.trackerURLs = ["http://127.0.0.1:1", second]
                    configuration.token = token
                    configuration.outputFile = try makeTemporaryDirectory() + "/first-down.bin"
                    configuration.pieceSize = 512 << 10
                    configuration.useSelf = false  // every piece from peers: only the second tracker could name them
                    let observer = RecordingObserver()
                    let summary = try await download(configuration, observer: observer)
                    #expect(summary.sha256 == swarm.origin!.content.sha256())
                    #expect(try sha256(ofFile: summary.path) == summary.sha256)
                    #expect(summary.sources.filter { $0.source.hasPrefix("peer 127.0.0.") && $0.bytes > 0 }.count >= 1)
                    #expect(observer.start?.sources.count == 3)
                    #expect(!observer.notices.contains { $0.contains("tracker unreachable") })
                    #expect(observer.notices.contains { $0.contains("cannot reach the tracker at http://127.0.0.1:1") && $0.contains("using the other trackers' peers") })
                }
            }
        }
    }

    @Test func whenNoTrackerAnswersTheErrorNamesEach() async throws {
        try await withFailFastClient { client in
            let trackers = TrackerSet(baseURLs: ["http://127.0.0.1:1", "http://127.0.0.2:1"], httpClient: client)
            let error = await #expect(throws: TrackerSet.Failure.self) { _ = try await trackers.peers() }
            #expect(error?.allUnreachable == true)
            let text = error.map(String.init(describing:)) ?? ""
            #expect(text.contains("none of the 2 trackers answered"), "\(text)")
            #expect(text.contains("http://127.0.0.1:1") && text.contains("http://127.0.0.2:1"), "\(text)")
        }
    }

    @Test func aTrackerStoppedMidDownloadChangesNothing() async throws {
        let size: Int64 = 8 << 20 + 4321
        try await withFailFastClient { client in
            let token = SwarmToken.generate()
            try await withTracker(token: token) { second, stopSecond in
                var options = swarmOptions(size: size, extraTracker: second)
                options.token = token
                try await LocalSwarm.run(options) { swarm in
                    try await waitForPeers(second, count: 3, token: token, client: client)
                    var configuration = ClientConfiguration(url: swarm.fileURL())
                    // The tracker that stops is asked first.
                    configuration.trackerURLs = [second, swarm.trackerURL]
                    configuration.token = token
                    configuration.outputFile = try makeTemporaryDirectory() + "/tracker-stops.bin"
                    configuration.pieceSize = 512 << 10
                    configuration.useSelf = false
                    let gate = swarm.origin!.pause(atOffset: size / 3)
                    let result = try await download(configuration, pausedAt: gate) {
                        try await stopSecond()
                        await #expect(throws: (any Error).self) { try await TrackerClient(baseURL: second, httpClient: client, token: token).peers() }
                    }
                    let summary = try result.get()
                    #expect(summary.bytes == size)
                    #expect(summary.sha256 == swarm.origin!.content.sha256())
                    #expect(try sha256(ofFile: summary.path) == summary.sha256)
                    // Every piece came from the peers the trackers named (this machine only referees).
                    #expect(summary.sources.filter { $0.source.hasPrefix("peer 127.0.0.") }.reduce(0) { $0 + $1.bytes } >= size)
                    // A report to both trackers: the stopped one fails, the other takes it.
                    let report = TrackerAPI.DownloadReport(summary: summary, givenURL: configuration.url)
                    let failures = await TrackerSet(baseURLs: configuration.trackerURLs, httpClient: client, token: token).report(report)
                    #expect(failures.count == 1)
                }
            }
        }
    }

    @Test func ddlPeersMergesTheTrackersListsAndReadsTheTokenFromAFile() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: ProcessTests.binary), "build the ddl binary first (swift build)")
        let directory = try makeTemporaryDirectory()
        let token = SwarmToken.generate()
        let tokenPath = directory + "/token"
        try (token + "\n").write(toFile: tokenPath, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tokenPath)
        let peerPort = Eventually<Int>()
        try await withFailFastClient { client in
            try await withTracker(token: token, ttl: 300) { first, _ in
                try await withTracker(token: token, ttl: 300) { second, _ in
                    // One peer with both trackers, one only with the second.
                    var configuration = PeerConfiguration(host: "127.0.0.2", port: 0, trackerURLs: [first, second])
                    configuration.token = token
                    configuration.name = "both"
                    let peer = try PeerServer.makeServices(configuration: configuration, httpClient: client, logger: testLogger) { await peerPort.set($0) }
                    try await withServices(peer) {
                        let port = try await peerPort.wait()
                        _ = try await TrackerClient(baseURL: second, httpClient: client, token: token)
                            .register(.init(port: 7001, host: "127.0.0.3", name: "second-only"))
                        try await waitForPeers(first, count: 1, token: token, client: client)
                        try await waitForPeers(second, count: 2, token: token, client: client)

                        let peers = try ProcessTests.Child(
                            ["peers", "--tracker", first, "--tracker", second, "--json", "--token-file", tokenPath, "--plain-http"], directory: directory, name: "peers")
                        #expect(try await peers.waitForExit() == 0, "\((try? String(contentsOfFile: directory + "/peers.err", encoding: .utf8)) ?? "")")
                        let list = try JSONDecoder().decode(TrackerAPI.PeerList.self, from: Data(peers.output.utf8))
                        #expect(list.peers.map { "\($0.host):\($0.port)" }.sorted() == ["127.0.0.2:\(port)", "127.0.0.3:7001"])

                        // The same through DDL_TRACKER, comma-separated, with the first tracker down.
                        let down = try ProcessTests.Child(
                            ["peers", "--json"], directory: directory, name: "peers-env",
                            environment: ["DDL_TRACKER": "http://127.0.0.1:1,\(second)", "DDL_TOKEN_FILE": tokenPath, "DDL_PLAIN_HTTP": "1"])
                        #expect(try await down.waitForExit() == 0)
                        #expect((try? JSONDecoder().decode(TrackerAPI.PeerList.self, from: Data(down.output.utf8)))?.peers.count == 2)

                        // --token and --token-file together: a usage error that shows neither the token nor the file's content.
                        let both = try ProcessTests.Child(
                            ["peers", "--tracker", first, "--token", token, "--token-file", tokenPath, "--plain-http"], directory: directory, name: "peers-both")
                        #expect(try await both.waitForExit() == 64)
                        let errors = (try? String(contentsOfFile: directory + "/peers-both.err", encoding: .utf8)) ?? ""
                        #expect(errors.contains("both token and token_file are set"), "\(errors)")
                        #expect(!errors.contains(token))
                    }
                }
            }
        }
    }
}
