import AsyncHTTPClient
import DDLApp
import DDLClient
import DDLCore
import DDLPeer
import DDLServerSupport
import DDLTestOrigin
import DDLTracker
import DDLTrackerClient
import Foundation
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing

/// Metrics, download reports, the dashboard page and its event stream, against real servers
/// on loopback (issue 14).
@Suite struct ObservabilityTests {
    static let token = SwarmToken.generate()

    func get(_ client: HTTPClient, _ url: String, token: String? = Self.token) async throws -> (Int, HTTPHeaders, String) {
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "Authorization", value: "Bearer " + token) }
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 8 << 20)
        return (Int(response.status.code), response.headers, String(buffer: body))
    }

    func scrape(_ client: HTTPClient, _ base: String) async throws -> Exposition {
        let (status, headers, text) = try await get(client, base + "/metrics")
        #expect(status == 200)
        #expect(headers.first(name: "Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        return try Exposition(text)
    }

    /// A tracker on 127.0.0.1 port 0 with the suite's token, built from `parts`.
    func withTracker(
        _ configure: (inout TrackerConfiguration) -> Void = { _ in },
        _ body: @Sendable @escaping (String, HTTPClient, Tracker.Parts) async throws -> Void
    ) async throws {
        var configuration = TrackerConfiguration(host: "127.0.0.1", port: 0)
        configuration.token = Self.token
        configure(&configuration)
        let parts = Tracker.Parts(configuration: configuration, logger: testLogger)
        let bound = Eventually<Int>()
        try await withServices(Tracker.makeServices(parts) { await bound.set($0) }) {
            let base = "http://127.0.0.1:\(try await bound.wait())"
            try await withHTTPClient { client in try await body(base, client, parts) }
        }
    }

    func swarmOptions(size: Int64, ttl: Int = 30) -> LocalSwarm.Options {
        var options = LocalSwarm.Options()
        options.originSize = size
        options.peerHosts = ["127.0.0.1", "127.0.0.1"]
        options.token = Self.token
        options.ttlSeconds = ttl
        return options
    }

    func getConfiguration(_ swarm: LocalSwarm, url: String) throws -> ClientConfiguration {
        var configuration = ClientConfiguration(url: url)
        configuration.trackerURLs = [swarm.trackerURL]
        configuration.token = Self.token
        configuration.plainHTTP = true  // these swarms run without TLS
        configuration.downloadDirectory = try makeTemporaryDirectory()
        configuration.progress = .quiet
        configuration.pieceSize = 256 << 10
        // Nothing here is about digests: keep the hashing off NIO's shared blocking pool,
        // which the other tests' peers need for getaddrinfo.
        configuration.computeSHA256 = false
        configuration.discoverDigests = false
        configuration.allowPeerNetworks = testPeerNetworks  // the swarm's peers run on loopback
        return configuration
    }

    // MARK: metrics

    @Test func metricsFollowTheExpositionFormatAndTheNamingConventions() async throws {
        let size: Int64 = 4 << 20
        try await LocalSwarm.run(swarmOptions(size: size)) { swarm in
            var configuration = try getConfiguration(swarm, url: swarm.fileURL("metrics.bin"))
            configuration.useSelf = false
            let summary = try await download(configuration)
            #expect(summary.bytes == size)
            try await withHTTPClient { client in
                let tracker = try await scrape(client, swarm.trackerURL)
                #expect(tracker.conventionViolations() == [])
                #expect(tracker.value("ddl_tracker_peers") == 2)
                #expect(tracker.samples("ddl_build_info").first?.labels == ["role": "tracker", "version": BuildInfo.version])
                #expect(tracker.value("ddl_build_info", ["role": "tracker", "version": BuildInfo.version]) == 1)
                #expect(tracker.value("ddl_tracker_requests_total", ["route": "/v1/peers", "status": "200"]).map { $0 >= 1 } == true)
                #expect(tracker.families["ddl_tracker_downloads_total"]?.type == "counter")

                var served: Int64 = 0
                for (index, port) in swarm.peerPorts.enumerated() {
                    let base = "http://127.0.0.1:\(port)"
                    // The peer records a fetch's end just after its last byte went out.
                    #expect(try await eventually(within: 10) {
                        let peer = try await scrape(client, base)
                        return peer.value("ddl_peer_active_fetches") == 0
                            && peer.value("ddl_peer_served_bytes_total", ["from": "origin"]) == Double(swarm.peerStats[index].bytesServed)
                    })
                    let peer = try await scrape(client, base)
                    #expect(peer.conventionViolations() == [])
                    let fromOrigin = try #require(peer.value("ddl_peer_served_bytes_total", ["from": "origin"]))
                    #expect(peer.value("ddl_peer_served_bytes_total", ["from": "cache"]) == 0)
                    #expect(try #require(peer.value("ddl_peer_origin_bytes_total")) >= fromOrigin)
                    #expect(peer.families["ddl_peer_fetch_duration_seconds"]?.type == "histogram")
                    #expect(try #require(peer.value("ddl_peer_fetch_duration_seconds_count")) >= 1)
                    #expect(peer.value("ddl_peer_requests_total", ["route": "/v1/fetch", "status": "206"]).map { $0 >= 1 } == true)
                    #expect(peer.value("ddl_build_info", ["role": "peer", "version": BuildInfo.version]) == 1)
                    served += Int64(fromOrigin)
                }
                // --no-self: every byte of the file came through the peers.
                #expect(served >= size)
            }
        }
    }

    @Test func metricsNeedTheTokenAndEveryServerCountsItsOwn() async throws {
        try await withTracker { first, client, _ in
            try await withTracker { second, _, _ in
                #expect(try await get(client, first + "/metrics", token: nil).0 == 401)
                #expect(try await get(client, first + "/metrics", token: SwarmToken.generate()).0 == 401)
                for _ in 0..<3 { #expect(try await get(client, first + "/v1/peers").0 == 200) }
                let a = try await scrape(client, first)
                let b = try await scrape(client, second)
                #expect(a.value("ddl_tracker_requests_total", ["route": "/v1/peers", "status": "200"]) == 3)
                #expect(a.value("ddl_tracker_requests_total", ["route": "/metrics", "status": "401"]) == 2)
                #expect(b.value("ddl_tracker_requests_total", ["route": "/v1/peers", "status": "200"]) == nil)
                #expect(b.value("ddl_tracker_requests_total", ["route": "/metrics", "status": "401"]) == nil)
            }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func withMetricsOffThereIsNoMetricsRouteAndADownloadStillWorks() async throws {
        let size: Int64 = 3 << 20
        var options = swarmOptions(size: size, ttl: 3)
        options.metrics = false
        try await LocalSwarm.run(options) { swarm in
            var configuration = try getConfiguration(swarm, url: swarm.fileURL("unmetered.bin"))
            configuration.useSelf = false  // every piece through the peers
            let file = configuration.downloadDirectory + "/unmetered.bin"
            configuration.outputFile = file
            #expect(await Roles.runGet(configuration: configuration, logger: testLogger) == 0)
            #expect((try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value == size)
            #expect(swarm.peerStats.map(\.bytesServed).reduce(0, +) >= size)
            try await withHTTPClient { client in
                // With the token, so that the 404 is the missing route and not the guard.
                #expect(try await get(client, swarm.trackerURL + "/metrics").0 == 404)
                for port in swarm.peerPorts {
                    #expect(try await get(client, "http://127.0.0.1:\(port)/metrics").0 == 404)
                    #expect(try await get(client, "http://127.0.0.1:\(port)/metrics", token: nil).0 == 401)
                }
                // The dashboard and the download reports are the tracker's own state: they stay.
                #expect(try await get(client, swarm.trackerURL + "/", token: nil).0 == 200)
                let (status, _, text) = try await get(client, swarm.trackerURL + "/v1/downloads")
                #expect(status == 200)
                let list = try JSONDecoder().decode(TrackerAPI.DownloadList.self, from: Data(text.utf8))
                #expect(list.downloads.first?.report.result == "ok")
                #expect(list.downloads.first?.report.bytes == size)
                var events = try await EventStream.open(client, swarm.trackerURL, token: Self.token)
                #expect(try await events.next { $0.peerCount == 2 && !$0.downloads.isEmpty }.totals.downloads == 1)
            }
        }
    }

    @Test func aTrackerBuiltWithMetricsOffCountsNothing() async throws {
        try await withTracker({ $0.metrics = false }) { base, client, parts in
            #expect(!parts.metrics.isEnabled)
            for _ in 0..<3 { #expect(try await get(client, base + "/v1/peers").0 == 200) }
            #expect(try await get(client, base + "/metrics").0 == 404)
            try await TrackerClient(baseURL: base, httpClient: client, token: Self.token).report(TrackerAPI.DownloadReport(
                url: "http://example.org/a.iso", file: "a.iso", bytes: 10, seconds: 1, result: "ok", mode: "direct",
                sources: [.init(name: "self", kind: "origin", bytes: 10)], originBytes: 10))
            #expect(parts.metrics.registry.emitToString() == "")
            #expect(await parts.activity.recent().count == 1)
        }
    }

    @Test func theExpositionParserRejectsWhatPromtoolWould() throws {
        #expect(throws: Exposition.Failure.self) { try Exposition("ddl_x_total 1\n") }  // no TYPE
        #expect(throws: Exposition.Failure.self) { try Exposition("# TYPE ddl_x_total counter\nddl_x_total{a=b} 1\n") }
        #expect(throws: Exposition.Failure.self) { try Exposition("# TYPE ddl_x_total counter\nddl_x_total 1\nddl_x_total 2\n") }
        #expect(throws: Exposition.Failure.self) { try Exposition("# TYPE ddl_x_total counter\nddl_x_total one\n") }
        let unconventional = try Exposition("# HELP ddl_x a counter\n# TYPE ddl_x counter\nddl_x 1\n")
        #expect(unconventional.conventionViolations() == ["ddl_x: a counter must end in _total"])
    }

    // MARK: reports

    @Test(.timeLimit(.minutes(3)))
    func getReportsItsResultAndThePeersTheirStatus() async throws {
        let size: Int64 = 3 << 20
        try await LocalSwarm.run(swarmOptions(size: size, ttl: 3)) { swarm in
            var configuration = try getConfiguration(swarm, url: swarm.fileURL("reported.bin") + "?X-Amz-Signature=secret#part")
            configuration.useSelf = false  // every piece through the peers (only spot checks go to the origin directly)
            #expect(await Roles.runGet(configuration: configuration, logger: testLogger) == 0)
            try await withHTTPClient { client in
                let (status, _, text) = try await get(client, swarm.trackerURL + "/v1/downloads")
                #expect(status == 200)
                let list = try JSONDecoder().decode(TrackerAPI.DownloadList.self, from: Data(text.utf8))
                let record = try #require(list.downloads.first)
                #expect(list.downloads.count == 1)
                #expect(!text.contains("secret"))
                let report = record.report
                #expect(report.url == swarm.fileURL("reported.bin"))
                #expect(report.file == "reported.bin")
                #expect(report.result == "ok")
                #expect(report.bytes == size)
                #expect(report.mode == "swarm")
                #expect(report.seconds > 0)
                #expect(Set(report.sources.map(\.kind)).isSubset(of: ["origin", "peer"]))
                #expect(report.sources.contains { $0.kind == "peer" })
                let total = report.sources.reduce(Int64(0)) { $0 + $1.bytes }
                #expect(total >= size)
                #expect(report.originBytes == total)  // no mirror, no cache: every byte came from the origin
                #expect(record.client == "127.0.0.1")

                let metrics = try await scrape(client, swarm.trackerURL)
                #expect(metrics.value("ddl_tracker_downloads_total", ["result": "ok"]) == 1)
                #expect(metrics.value("ddl_tracker_downloads_total", ["result": "network"]) == 0)
                let fromPeers = report.sources.filter { $0.kind == "peer" }.reduce(Int64(0)) { $0 + $1.bytes }
                #expect(metrics.value("ddl_tracker_download_bytes_total", ["from": "peer"]) == Double(fromPeers))
                #expect(metrics.value("ddl_tracker_download_origin_bytes_total") == Double(total))

                // The peers' heartbeats (every ttl/3 = 1 s) bring what they served to the dashboard.
                var events = try await EventStream.open(client, swarm.trackerURL, token: Self.token)
                // (A snapshot can fall between a heartbeat's two updates, the peer's status and the
                // chart: the one after it has both.)
                // (Served bytes read each time: a peer may still write a chunk of an endgame copy
                // the client cancelled. The chart's share of them is not checked here: on a
                // loaded machine a peer can miss its TTL of 3 s and register again, and then its
                // status starts a new baseline; theEventStreamSendsSnapshotsOnChanges… checks it.)
                func served(_ snapshot: EventStream.Snapshot) -> Set<Int64> { Set(snapshot.peers.compactMap(\.servedBytes)) }
                let snapshot = try await events.next(limit: 20) { snapshot in
                    served(snapshot) == Set(swarm.peerStats.map(\.bytesServed)) && snapshot.downloads.count == 1
                }
                #expect(served(snapshot) == Set(swarm.peerStats.map(\.bytesServed)))
                #expect(snapshot.downloads.count == 1)
                #expect(Set(snapshot.peers.compactMap(\.name)) == ["local-peer-1", "local-peer-2"])
                #expect(snapshot.throughput.contains { $0.clients > 0 } == report.sources.contains { $0.kind == "origin" })
            }
        }
    }

    @Test func aFailedDownloadIsReportedAndAFailedReportChangesNothing() async throws {
        try await LocalSwarm.run(swarmOptions(size: 1 << 20)) { swarm in
            let missing = try getConfiguration(swarm, url: (swarm.originURL ?? "") + "/nothing-here")
            #expect(await Roles.runGet(configuration: missing, logger: testLogger) == 4)
            var unreachable = try getConfiguration(swarm, url: swarm.fileURL("direct.bin"))
            unreachable.trackerURLs = ["http://127.0.0.1:1"]
            #expect(await Roles.runGet(configuration: unreachable, logger: testLogger) == 0)
            var quiet = try getConfiguration(swarm, url: swarm.fileURL("unreported.bin"))
            quiet.reportToTracker = false
            #expect(await Roles.runGet(configuration: quiet, logger: testLogger) == 0)
            try await withHTTPClient { client in
                let (_, _, text) = try await get(client, swarm.trackerURL + "/v1/downloads")
                let list = try JSONDecoder().decode(TrackerAPI.DownloadList.self, from: Data(text.utf8))
                #expect(list.downloads.map(\.report.result) == ["origin"])
                #expect(list.downloads.first?.report.bytes == 0)
                let metrics = try await scrape(client, swarm.trackerURL)
                #expect(metrics.value("ddl_tracker_downloads_total", ["result": "origin"]) == 1)
                #expect(metrics.value("ddl_tracker_downloads_total", ["result": "ok"]) == 0)
            }
        }
    }

    @Test func theTrackerKeepsABoundedHistoryAndRefusesBadReports() async throws {
        try await withTracker({ $0.downloadHistory = 3 }) { base, client, _ in
            let tracker = TrackerClient(baseURL: base, httpClient: client, token: Self.token)
            for index in 1...5 {
                try await tracker.report(TrackerAPI.DownloadReport(
                    url: "http://example.org/\(index).iso", file: "\(index).iso", bytes: 100, seconds: 1, result: "ok", mode: "direct",
                    sources: [.init(name: "self", kind: "origin", bytes: 100)], originBytes: 100))
            }
            let (_, _, text) = try await get(client, base + "/v1/downloads")
            let list = try JSONDecoder().decode(TrackerAPI.DownloadList.self, from: Data(text.utf8))
            #expect(list.downloads.map(\.report.file) == ["5.iso", "4.iso", "3.iso"])

            let good = TrackerAPI.DownloadReport(url: "http://example.org/a", file: nil, bytes: 0, seconds: 0, result: "ok", mode: nil, sources: [], originBytes: 0)
            var badResult = good
            badResult.result = "splendid"
            var withQuery = good
            withQuery.url = "http://example.org/a?token=x"
            var badKind = good
            badKind.sources = [.init(name: "x", kind: "carrier-pigeon", bytes: 1)]
            for bad in [badResult, withQuery, badKind] {
                await #expect { try await tracker.report(bad) } throws: { String(describing: $0).contains("HTTP 400") }
            }
            await #expect { try await TrackerClient(baseURL: base, httpClient: client).report(good) } throws: { String(describing: $0).contains("401") }
            #expect(try await get(client, base + "/v1/downloads", token: nil).0 == 401)
        }
    }

    // MARK: dashboard

    @Test func theDashboardPageIsOpenAndHoldsNoData() async throws {
        try await withTracker { base, client, parts in
            _ = await parts.registry.register(host: "10.0.0.7", port: 6000, name: "secret-peer-name", source: "10.0.0.7")
            let (status, headers, page) = try await get(client, base + "/", token: nil)
            #expect(status == 200)
            #expect(headers.first(name: "Content-Type") == "text/html; charset=utf-8")
            let policy = try #require(headers.first(name: "Content-Security-Policy"))
            #expect(policy.contains("script-src 'sha256-"))
            #expect(policy.contains("connect-src 'self'"))
            #expect(!policy.contains("unsafe-inline"))
            #expect(page.contains("<table id=\"peers\">"))
            #expect(!page.contains("secret-peer-name"))
            #expect(!page.contains(Self.token))
            // Nothing loaded from elsewhere: no script or image by address, no style sheet link.
            #expect(!page.contains(" src="))
            #expect(!page.contains("href=\"http"))
            #expect(!page.contains("@import"))
            #expect(try await get(client, base + "/v1/events", token: nil).0 == 401)
            #expect(try await get(client, base + "/v1/events", token: SwarmToken.generate()).0 == 401)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func theEventStreamSendsSnapshotsOnChangesAndEndsOnShutdown() async throws {
        var configuration = TrackerConfiguration(host: "127.0.0.1", port: 0)
        configuration.token = Self.token
        let parts = Tracker.Parts(configuration: configuration, logger: testLogger)
        let bound = Eventually<Int>()
        let group = ServiceGroup(services: Tracker.makeServices(parts) { await bound.set($0) }, logger: testLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let base = "http://127.0.0.1:\(try await bound.wait())"
            try await withHTTPClient { client in
                let tracker = TrackerClient(baseURL: base, httpClient: client, token: Self.token)
                let id = try await tracker.register(.init(port: 6001, host: "10.0.0.1", name: "alpha", status: .init(servedBytes: 0, activeFetches: 0))).id
                var events = try await EventStream.open(client, base, token: Self.token)
                let first = try await events.next { _ in true }
                #expect(first.peers.map(\.name) == ["alpha"])
                #expect(first.peerCount == 1)
                #expect(first.downloads.isEmpty)
                #expect(first.throughput.count == 120)

                #expect(try await tracker.heartbeat(id: id, status: .init(servedBytes: 5 << 20, activeFetches: 2)) == .ok)
                let busy = try await events.next { $0.peers.first?.activeFetches == 2 }
                #expect(busy.peers.first?.servedBytes == 5 << 20)
                #expect(abs(busy.throughput.reduce(0) { $0 + $1.peers } * Double(busy.bucketSeconds) - Double(5 << 20)) < 1)

                try await tracker.report(TrackerAPI.DownloadReport(
                    url: "http://example.org/big.iso", file: "big.iso", bytes: 1000, seconds: 2, result: "ok", mode: "swarm",
                    sources: [.init(name: "peer 10.0.0.1:6001", kind: "peer", bytes: 600), .init(name: "self", kind: "origin", bytes: 400)],
                    originBytes: 1000))
                let reported = try await events.next { !$0.downloads.isEmpty }
                #expect(reported.downloads.first?.report.file == "big.iso")
                #expect(reported.totals == .init(downloads: 1, bytes: 1000, savedBytes: 0))

                // A graceful shutdown ends the open stream, so the server can stop.
                #expect(parts.events.subscriberCount == 1)
                await group.triggerGracefulShutdown()
                #expect(try await events.end() == true)
            }
            try await tasks.waitForAll()
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aDashboardThatWentAwayFreesItsSlot() async throws {
        var configuration = TrackerConfiguration(host: "127.0.0.1", port: 0)
        configuration.token = Self.token
        let parts = Tracker.Parts(configuration: configuration, events: SwarmEvents(limit: 1, keepalive: .seconds(1)), logger: testLogger)
        let bound = Eventually<Int>()
        try await withServices(Tracker.makeServices(parts) { await bound.set($0) }) {
            let base = "http://127.0.0.1:\(try await bound.wait())"
            try await withHTTPClient { client in
                // The first dashboard, on a connection of its own that then closes.
                try await withHTTPClient { gone in
                    var events = try await EventStream.open(gone, base, token: Self.token)
                    _ = try await events.next { _ in true }
                    #expect(try await get(client, base + "/v1/events").0 == 503)
                }
                // Nothing changes on this tracker: the keepalive's write finds the closed
                // connection and frees the slot.
                #expect(try await eventually(within: 20) { parts.events.subscriberCount == 0 })
                var events = try await EventStream.open(client, base, token: Self.token)
                #expect(try await events.next { _ in true }.peerCount == 0)
            }
        }
    }

    @Test func malformedHeartbeatBodiesAreRefused() async throws {
        try await withTracker { base, client, _ in
            let tracker = TrackerClient(baseURL: base, httpClient: client, token: Self.token)
            let id = try await tracker.register(.init(port: 6001, host: "10.0.0.1")).id
            var request = HTTPClientRequest(url: base + "/v1/peers/" + id)
            request.method = .PUT
            request.headers.add(name: "Authorization", value: "Bearer " + Self.token)
            request.body = .bytes(ByteBuffer(string: "{\"servedBytes\": \"lots\"}"))
            #expect(try await client.execute(request, timeout: .seconds(5)).status == .badRequest)
            #expect(try await tracker.heartbeat(id: id) == .ok)  // no body is fine
        }
    }
}

/// Reads a tracker's `GET /v1/events` stream (in one task).
struct EventStream {
    struct Snapshot: Decodable {
        struct Peer: Decodable {
            var name: String?
            var servedBytes: Int64?
            var activeFetches: Int?
        }
        struct Point: Decodable {
            var t: Int64
            var peers: Double
            var clients: Double
        }
        var peerCount: Int
        var peers: [Peer]
        var downloads: [TrackerAPI.DownloadRecord]
        var totals: SwarmActivity.Totals
        var bucketSeconds: Int64
        var throughput: [Point]
    }

    private var iterator: HTTPClientResponse.Body.AsyncIterator
    private var buffer = ""

    static func open(_ client: HTTPClient, _ base: String, token: String) async throws -> EventStream {
        var request = HTTPClientRequest(url: base + "/v1/events")
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        let response = try await client.execute(request, timeout: .seconds(60))
        #expect(response.status == .ok)
        #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
        return EventStream(iterator: response.body.makeAsyncIterator())
    }

    /// The next `snapshot` event's data, or `nil` at the end of the stream.
    private mutating func nextData() async throws -> String? {
        while true {
            if let cut = buffer.range(of: "\n\n") {
                let frame = String(buffer[..<cut.lowerBound])
                buffer = String(buffer[cut.upperBound...])
                let lines = frame.split(separator: "\n")
                guard lines.contains("event: snapshot") else { continue }
                return lines.filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }.joined(separator: "\n")
            }
            guard let chunk = try await iterator.next() else { return nil }
            buffer += String(buffer: chunk)
        }
    }

    /// Waits for the first snapshot that satisfies `condition`; after `limit` snapshots that
    /// do not, returns the last one (for the caller's expectations to show what it held).
    mutating func next(limit: Int = .max, where condition: (Snapshot) -> Bool) async throws -> Snapshot {
        var seen = 0
        while let data = try await nextData() {
            let snapshot = try JSONDecoder().decode(Snapshot.self, from: Data(data.utf8))
            seen += 1
            if condition(snapshot) || seen >= limit { return snapshot }
        }
        throw CancellationError()
    }

    /// Reads to the end of the stream; true when it ended.
    mutating func end() async throws -> Bool {
        while try await nextData() != nil {}
        return true
    }
}
