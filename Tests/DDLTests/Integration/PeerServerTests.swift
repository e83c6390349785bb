import AsyncHTTPClient
import DDLCore
import DDLPeer
import DDLTestOrigin
import DDLTracker
import DDLTrackerClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// The peer's fetch endpoint and its tracker registration, against a real origin and tracker.
@Suite struct PeerServerTests {
    struct Harness: Sendable {
        let origin: TestOrigin
        let originURL: String
        let peerURL: String
        let stats: PeerStats
        let client: HTTPClient

        func fetch(_ url: String?, range: String?, ifRange: String? = nil) async throws -> (HTTPClientResponse, ByteBuffer) {
            var target = peerURL + "/v1/fetch"
            if let url { target += "?url=" + url.addingPathPercentEncoding() }
            var request = HTTPClientRequest(url: target)
            if let range { request.headers.add(name: "Range", value: range) }
            if let ifRange { request.headers.add(name: "If-Range", value: ifRange) }
            let response = try await client.execute(request, timeout: .seconds(10))
            return (response, try await response.body.collect(upTo: 64 << 20))
        }
    }

    func withPeer(size: Int64 = 1 << 20, maxFetches: Int = 16, _ body: @Sendable @escaping (Harness) async throws -> Void) async throws {
        let origin = TestOrigin(length: size)
        let originPort = Eventually<Int>()
        let peerPort = Eventually<Int>()
        var configuration = PeerConfiguration(host: "127.0.0.1", port: 0)
        configuration.maxConcurrentFetches = maxFetches
        configuration.allowNetworks = [IPNetwork("127.0.0.0/8")!]  // the test origin runs on loopback
        let originClient = PeerServer.makeOriginClient(configuration: configuration)
        let stats = PeerStats()
        var services = try PeerServer.makeServices(configuration: configuration, httpClient: originClient, stats: stats, logger: testLogger) { await peerPort.set($0) }
        services.append(origin.makeApplication(logger: testLogger) { await originPort.set($0) })
        try await withServices(services) {
            let harness = try await withHTTPClient { client in
                let h = Harness(
                    origin: origin, originURL: "http://127.0.0.1:\(try await originPort.wait())",
                    peerURL: "http://127.0.0.1:\(try await peerPort.wait())", stats: stats, client: client)
                try await body(h)
                return h
            }
            _ = harness
        }
        try await originClient.shutdown()
    }

    @Test func servesTheRequestedRangeWithOriginValidators() async throws {
        try await withPeer { h in
            let (response, body) = try await h.fetch(h.originURL + "/files/a.bin", range: "bytes=1000-200999")
            #expect(response.status == .partialContent)
            #expect(response.headers.first(name: "Content-Range") == "bytes 1000-200999/1048576")
            #expect(response.headers.first(name: "Content-Length") == "200000")
            #expect(response.headers.first(name: "ETag") == "\"v1\"")
            #expect(response.headers.first(name: "Last-Modified") != nil)
            #expect(body == h.origin.content.bytes(ByteRange(first: 1000, last: 200_999)))
            #expect(h.stats.bytesServed == 200_000)
        }
    }

    @Test func badRequestsGet400WithAProblem() async throws {
        try await withPeer { h in
            for (url, range) in [(nil, "bytes=0-1"), (h.originURL + "/files/a", nil), ("file:///etc/passwd", "bytes=0-1"),
                                 (h.originURL + "/files/a", "bytes=0-1,5-6"), (h.originURL + "/files/a", "bytes=5-")] {
                let (response, body) = try await h.fetch(url, range: range)
                #expect(response.status == .badRequest)
                #expect(String(buffer: body).contains("\"type\""))
            }
        }
    }

    @Test func originErrorsBecome502NamingTheOriginStatus() async throws {
        try await withPeer { h in
            let (response, body) = try await h.fetch(h.originURL + "/missing", range: "bytes=0-9")
            #expect(response.status == .badGateway)
            let problem = try JSONDecoder().decode(Problem.self, from: Data(buffer: body))
            #expect(problem.originStatus == 404)
            #expect(problem.status == 502)

            let (refused, _) = try await h.fetch("http://127.0.0.1:1/x", range: "bytes=0-9")
            #expect(refused.status == .badGateway)
        }
    }

    @Test func originIgnoringRangeOrChangedFileIs412() async throws {
        try await withPeer { h in
            let (changed, body) = try await h.fetch(h.originURL + "/files/a", range: "bytes=0-9", ifRange: "\"old\"")
            #expect(changed.status == .preconditionFailed)
            #expect(try JSONDecoder().decode(Problem.self, from: Data(buffer: body)).originStatus == 200)
        }
    }

    @Test func overTheConcurrencyCapIs503WithRetryAfter() async throws {
        try await withPeer(size: 4 << 20, maxFetches: 1) { h in
            // The first fetch holds the only slot while the origin holds its response.
            let gate = h.origin.pause(atOffset: 256 << 10)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { gate.release() }
                    let (slow, body) = try await h.fetch(h.originURL + "/files/a", range: "bytes=0-524287")
                    #expect(slow.status == .partialContent)
                    #expect(body.readableBytes == 524_288)
                }
                #expect(await gate.reached())
                let (busy, _) = try await h.fetch(h.originURL + "/files/a", range: "bytes=0-9")
                #expect(busy.status == .serviceUnavailable)
                #expect(busy.headers.first(name: "Retry-After") == "1")
                gate.release()
                try await group.waitForAll()
            }
            // The slot is free again.
            let (after, _) = try await h.fetch(h.originURL + "/files/a", range: "bytes=0-9")
            #expect(after.status == .partialContent)
        }
    }

    @Test func callerDisconnectCancelsTheOriginRequest() async throws {
        try await withPeer(size: 32 << 20) { h in
            h.origin.update { $0.bytesPerSecond = 4 << 20 }
            var request = HTTPClientRequest(url: h.peerURL + "/v1/fetch?url=" + (h.originURL + "/files/a").addingPathPercentEncoding())
            request.headers.add(name: "Range", value: "bytes=0-33554431")
            // Read a little, then drop the response: the connection closes.
            let response = try await h.client.execute(request, timeout: .seconds(10))
            var iterator = response.body.makeAsyncIterator()
            _ = try await iterator.next()
            _ = consume iterator
            _ = consume response
            // The peer cancels its request: the origin's response ends early, long before the
            // 32 MiB were through (8 s at this rate).
            let ended = try await eventually(within: 10) { h.origin.abortedResponses == 1 && h.origin.activeResponses == 0 }
            #expect(ended)
            #expect(h.origin.bytesServed < 8 << 20)
        }
    }

    @Test func peerRegistersAgainAfterATrackerRestart() async throws {
        // A tracker on a port we keep, restarted with an empty registry.
        let peerPort = Eventually<Int>()
        try await withHTTPClient { client in
            let port = try await portOutsideTheEphemeralRange()
            let trackerURL = "http://127.0.0.1:\(port)"
            let peerConfiguration = PeerConfiguration(host: "127.0.0.1", port: 0, trackerURLs: [trackerURL])
            let tracker = TrackerClient(baseURL: trackerURL, httpClient: client)
            let peerServices = try PeerServer.makeServices(configuration: peerConfiguration, httpClient: client, logger: testLogger) { await peerPort.set($0) }
            try await withServices(peerServices) {
                // The tracker is down: the peer keeps retrying. Start it now.
                try await Task.sleep(for: .milliseconds(300))
                let second = Tracker.makeServices(configuration: loopbackTrackerConfiguration(port: port, ttlSeconds: 1), logger: testLogger)
                try await withServices(second) {
                    let registered = try await eventually(within: 10) { (try? await tracker.peers().count) == 1 }
                    #expect(registered)
                }
                // Restart again: the heartbeat gets 404 and the peer registers anew.
                let third = Tracker.makeServices(configuration: loopbackTrackerConfiguration(port: port, ttlSeconds: 1), logger: testLogger)
                try await withServices(third) {
                    // One answer shows it (a second request could come after the 1 s TTL ran
                    // out on a loaded machine, between two heartbeats).
                    let expectedPort = try await peerPort.wait()
                    let registered = try await eventually(within: 10) { (try? await tracker.peers().map(\.port)) == [expectedPort] }
                    #expect(registered)
                }
            }
        }
    }

    @Test func peersHoldNoTrackerConnectionBetweenHeartbeats() async throws {
        // A tracker that takes 4 connections at once (one is this test's client), and six
        // peers heartbeating every ttl/3 (10 s, well under the tracker's 30 s idle timeout).
        // A peer that kept its connection open between heartbeats would hold a slot for good:
        // three peers would fill the tracker, and the other three would never register. (A
        // short ttl would make the test depend on timing: on a loaded machine, heartbeats
        // refused while others hold the slots would let registered peers expire.)
        var configuration = loopbackTrackerConfiguration(port: 0, ttlSeconds: 30)
        configuration.connectionLimits.maxConnections = 4
        let trackerPort = Eventually<Int>()
        try await withServices(Tracker.makeServices(configuration: configuration, logger: testLogger) { await trackerPort.set($0) }) {
            try await withHTTPClient { client in
                let url = "http://127.0.0.1:\(try await trackerPort.wait())"
                // Each peer its own HTTP client, as each `ddl server` process has (one shared
                // client would reuse one pooled connection for all of them).
                let clients = (2...7).map { _ in HTTPClient(eventLoopGroupProvider: .singleton) }
                do {
                    let peers = try zip(2...7, clients).flatMap { index, peerClient in
                        try PeerServer.makeServices(
                            configuration: PeerConfiguration(host: "127.0.0.\(index)", port: 0, trackerURLs: [url]), httpClient: peerClient, logger: testLogger)
                    }
                    try await withServices(peers) {
                        let tracker = TrackerClient(baseURL: url, httpClient: client)
                        let registered = try await eventually(within: 20) { (try? await tracker.peers().count) == 6 }
                        #expect(registered)
                    }
                } catch {
                    Issue.record("\(error)")
                }
                for peerClient in clients { try await peerClient.shutdown() }
            }
        }
    }

    @Test func peerDeregistersOnGracefulShutdown() async throws {
        let trackerPort = Eventually<Int>()
        let trackerServices = Tracker.makeServices(configuration: loopbackTrackerConfiguration(port: 0), logger: testLogger) {
            await trackerPort.set($0)
        }
        try await withServices(trackerServices) {
            try await withHTTPClient { client in
                let url = "http://127.0.0.1:\(try await trackerPort.wait())"
                let tracker = TrackerClient(baseURL: url, httpClient: client)
                let peer = try PeerServer.makeServices(configuration: PeerConfiguration(host: "127.0.0.1", port: 0, trackerURLs: [url]), httpClient: client, logger: testLogger)
                try await withServices(peer) {
                    let registered = try await eventually(within: 5) { try await tracker.peers().count == 1 }
                    #expect(registered)
                }
                // Gone at once, not after the 30 s TTL.
                #expect(try await tracker.peers().isEmpty)
            }
        }
    }
}
