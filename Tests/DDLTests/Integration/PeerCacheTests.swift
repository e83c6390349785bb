import AsyncHTTPClient
import DDLCore
import DDLPeer
import DDLTestOrigin
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The peer's cache: ranges stored on disk and served again without the origin, single
/// flight, versions, corruption, eviction and restarts — against a real origin.
@Suite struct PeerCacheTests {
    struct Harness: Sendable {
        let origin: TestOrigin
        let originURL: String
        let peerURL: String
        let cacheDirectory: String
        let client: HTTPClient

        var fileURL: String { originURL + "/files/a.bin" }

        func request(_ url: String, range: ByteRange, ifRange: String? = "\"v1\"") -> HTTPClientRequest {
            var request = HTTPClientRequest(url: peerURL + "/v1/fetch?url=" + url.addingPathPercentEncoding())
            request.headers.add(name: "Range", value: range.rangeHeader)
            if let ifRange { request.headers.add(name: "If-Range", value: ifRange) }
            return request
        }

        /// Fetches `range` through the peer; returns the answer, its body and its cache header.
        func fetch(_ range: ByteRange, url: String? = nil, ifRange: String? = "\"v1\"") async throws -> (HTTPResponseStatus, ByteBuffer, Int64?) {
            let response = try await client.execute(request(url ?? fileURL, range: range, ifRange: ifRange), timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 64 << 20)
            return (response.status, body, response.headers.first(name: "DDL-Cache-Bytes").flatMap { Int64($0) })
        }

        func expected(_ range: ByteRange) -> ByteBuffer { origin.content.bytes(range) }
    }

    static func configuration(cacheDirectory: String, capacity: Int64 = 1 << 30, ignoring: [String] = []) -> PeerConfiguration {
        var configuration = PeerConfiguration(host: "127.0.0.1", port: 0)
        configuration.allowNetworks = [IPNetwork("127.0.0.0/8")!]  // the test origin runs on loopback
        configuration.cacheDirectory = cacheDirectory
        configuration.cacheCapacity = capacity
        configuration.cacheKeyIgnoreParams = ignoring
        return configuration
    }

    /// Runs a peer with a cache in `cacheDirectory` (a new one when `nil`) against `origin`,
    /// leaving the query parameters `ignoring` out of its keys.
    func withCachingPeer(
        origin: TestOrigin = TestOrigin(length: 4 << 20), cacheDirectory: String? = nil, capacity: Int64 = 1 << 30, ignoring: [String] = [],
        _ body: @Sendable @escaping (Harness) async throws -> Void
    ) async throws {
        let directory = try cacheDirectory ?? makeTemporaryDirectory() + "/cache"
        let originPort = Eventually<Int>()
        let peerPort = Eventually<Int>()
        let configuration = Self.configuration(cacheDirectory: directory, capacity: capacity, ignoring: ignoring)
        let originClient = PeerServer.makeOriginClient(configuration: configuration)
        var services = try PeerServer.makeServices(configuration: configuration, httpClient: originClient, logger: testLogger) { await peerPort.set($0) }
        services.append(origin.makeApplication(logger: testLogger) { await originPort.set($0) })
        try await withServices(services) {
            try await withHTTPClient { client in
                try await body(Harness(
                    origin: origin, originURL: "http://127.0.0.1:\(try await originPort.wait())",
                    peerURL: "http://127.0.0.1:\(try await peerPort.wait())", cacheDirectory: directory, client: client))
            }
        }
        try await originClient.shutdown()
    }

    /// A caching peer on the cache directory `directory` started twice, one run after the
    /// other (a restart), with one origin: `body` gets the run (1, 2) and its harness;
    /// `afterRun` runs once a run's peer has stopped, with the run and the origin's base URL.
    func withRestartedPeer(
        origin: TestOrigin, directory: String, _ body: @Sendable (Int, Harness) async throws -> Void,
        afterRun: @Sendable (Int, String) throws -> Void = { _, _ in }
    ) async throws {
        let originPort = Eventually<Int>()
        let configuration = Self.configuration(cacheDirectory: directory)
        try await withServices([origin.makeApplication(logger: testLogger) { await originPort.set($0) }]) {
            let base = "http://127.0.0.1:\(try await originPort.wait())"
            try await withHTTPClient { client in
                for run in 1...2 {
                    let peerPort = Eventually<Int>()
                    try await withServices(try PeerServer.makeServices(configuration: configuration, httpClient: client, logger: testLogger) { await peerPort.set($0) }) {
                        try await body(run, Harness(
                            origin: origin, originURL: base, peerURL: "http://127.0.0.1:\(try await peerPort.wait())", cacheDirectory: directory, client: client))
                    }
                    try afterRun(run, base)
                }
            }
        }
    }

    @Test func aRepeatedRangeIsServedFromTheCacheWithoutTheOrigin() async throws {
        try await withCachingPeer { h in
            let range = ByteRange(first: 0, last: (1 << 20) - 1)
            let (status, first, firstShared) = try await h.fetch(range)
            #expect(status == .partialContent)
            #expect(first == h.expected(range))
            #expect(firstShared == 0)
            #expect(h.origin.getRequests == 1)
            let (_, second, secondShared) = try await h.fetch(range)
            #expect(second == h.expected(range))
            #expect(secondShared == range.count)
            #expect(h.origin.getRequests == 1, "the second fetch must not reach the origin")
            // A range inside it, not on block boundaries, too.
            let inner = ByteRange(first: 70_001, last: 900_123)
            let (_, third, thirdShared) = try await h.fetch(inner)
            #expect(third == h.expected(inner))
            #expect(thirdShared == inner.count)
            #expect(h.origin.getRequests == 1)
        }
    }

    @Test func onlyTheMissingBytesAreFetched() async throws {
        try await withCachingPeer { h in
            _ = try await h.fetch(ByteRange(first: 0, last: 262_143))
            let before = h.origin.bytesServed
            let range = ByteRange(first: 0, last: 524_287)
            let (_, body, shared) = try await h.fetch(range)
            #expect(body == h.expected(range))
            #expect(shared == 262_144)
            #expect(h.origin.bytesServed - before == 262_144)
            #expect(h.origin.getRequests == 2)
        }
    }

    @Test func withoutAValidatorNothingIsCached() async throws {
        try await withCachingPeer { h in
            let range = ByteRange(first: 0, last: 262_143)
            _ = try await h.fetch(range, ifRange: nil)
            let (_, body, shared) = try await h.fetch(range, ifRange: nil)
            #expect(body == h.expected(range))
            #expect(shared == nil)
            #expect(h.origin.getRequests == 2)
            // A weak ETag may stay the same across changes of the bytes: no key.
            #expect(CacheKey(url: h.fileURL, ifRange: "W/\"v1\"") == nil)
            #expect(CacheKey(url: h.fileURL, ifRange: "\"v1\"") != nil)
        }
    }

    @Test func aNewVersionOfTheFileIsAMiss() async throws {
        try await withCachingPeer { h in
            let range = ByteRange(first: 0, last: 262_143)
            _ = try await h.fetch(range)
            h.origin.update { $0.etag = "\"v2\"" }
            // A client that probed the new version asks for it: the old bytes are not served.
            let (status, body, shared) = try await h.fetch(range, ifRange: "\"v2\"")
            #expect(status == .partialContent)
            #expect(body == h.expected(range))
            #expect(shared == 0)
            #expect(h.origin.getRequests == 2)
            // A range of the old version not in the cache: the origin's 200 becomes 412.
            let (oldStatus, _, _) = try await h.fetch(ByteRange(first: 262_144, last: 524_287), ifRange: "\"v1\"")
            #expect(oldStatus == .preconditionFailed)
        }
    }

    @Test func concurrentRequestsForOneRangeShareOneOriginFetch() async throws {
        try await withCachingPeer { h in
            let range = ByteRange(first: 0, last: (1 << 20) - 1)
            let gate = h.origin.pause(atOffset: 512 << 10)
            async let leader = h.fetch(range)
            #expect(await gate.reached())
            // The second request finds every block stored or being fetched: it follows.
            let follower = try await h.client.execute(h.request(h.fileURL, range: range), timeout: .seconds(30))
            #expect(follower.headers.first(name: "DDL-Cache-Bytes") == String(range.count))
            gate.release()
            let followed = try await follower.body.collect(upTo: 4 << 20)
            let (_, led, _) = try await leader
            #expect(led == h.expected(range))
            #expect(followed == h.expected(range))
            #expect(h.origin.getRequests == 1, "one origin fetch for both")
        }
    }

    @Test func aFollowerFetchesItselfWhenTheLeaderGoesAway() async throws {
        try await withCachingPeer { h in
            let range = ByteRange(first: 0, last: (1 << 20) - 1)
            let gate = h.origin.pause(atOffset: 512 << 10)
            let leader = Task { try await h.fetch(range) }
            #expect(await gate.reached())
            let follower = try await h.client.execute(h.request(h.fileURL, range: range), timeout: .seconds(30))
            leader.cancel()
            _ = await leader.result
            gate.release()
            let followed = try await follower.body.collect(upTo: 4 << 20)
            #expect(followed == h.expected(range))
            // And what it fetched is stored: a third request needs no origin.
            let requests = h.origin.getRequests
            let (_, again, shared) = try await h.fetch(range)
            #expect(again == h.expected(range))
            #expect(shared == range.count)
            #expect(h.origin.getRequests == requests)
        }
    }

    @Test func aBlockDamagedOnDiskIsDetectedAndFetchedAgain() async throws {
        try await withCachingPeer { h in
            let range = ByteRange(first: 0, last: 524_287)
            _ = try await h.fetch(range)
            // Flip one byte of block 1 in the stored data.
            let entries = try FileManager.default.contentsOfDirectory(atPath: h.cacheDirectory).filter { !$0.hasPrefix(".") }
            #expect(entries.count == 1)
            let path = h.cacheDirectory + "/" + entries[0] + "/data"
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            try handle.seek(toOffset: 70_000)
            let byte = try #require(try handle.read(upToCount: 1))
            try handle.seek(toOffset: 70_000)
            try handle.write(contentsOf: Data([byte[0] ^ 0xff]))
            try handle.close()
            let before = h.origin.bytesServed
            let (_, body, _) = try await h.fetch(range)
            #expect(body == h.expected(range))
            #expect(h.origin.getRequests == 2)
            #expect(h.origin.bytesServed - before == BlockPlan.blockSize, "only the damaged block is fetched again")
            // Stored again, correctly.
            let (_, again, shared) = try await h.fetch(range)
            #expect(again == h.expected(range))
            #expect(shared == range.count)
            #expect(h.origin.getRequests == 2)
        }
    }

    @Test func theCacheSurvivesARestart() async throws {
        let origin = TestOrigin(length: 1 << 20)
        let range = ByteRange(first: 0, last: (1 << 20) - 1)
        try await withRestartedPeer(origin: origin, directory: try makeTemporaryDirectory() + "/cache") { run, h in
            let (_, body, shared) = try await h.fetch(range, url: h.fileURL)
            #expect(body == h.expected(range))
            #expect(shared == (run == 1 ? 0 : range.count))
        }
        #expect(origin.getRequests == 1, "the second run serves what the first stored")
    }

    @Test func theLeastRecentlyUsedFileIsEvictedFirst() async throws {
        try await withCachingPeer(capacity: 2 << 20) { h in
            let range = ByteRange(first: 0, last: (1 << 20) - 1)
            let (a, b, c) = (h.originURL + "/files/a.bin", h.originURL + "/files/b.bin", h.originURL + "/files/c.bin")
            _ = try await h.fetch(range, url: a)
            _ = try await h.fetch(range, url: b)
            _ = try await h.fetch(range, url: a)  // a is now used more recently than b
            #expect(h.origin.getRequests == 2)
            _ = try await h.fetch(range, url: c)  // no room: b goes
            #expect(h.origin.getRequests == 3)
            let (_, _, aShared) = try await h.fetch(range, url: a)
            #expect(aShared == range.count)
            let (_, _, bShared) = try await h.fetch(range, url: b)
            #expect(bShared == 0)
            #expect(h.origin.getRequests == 4)
        }
    }

    @Test func twoServersCannotShareACacheDirectory() async throws {
        let directory = try makeTemporaryDirectory() + "/cache"
        let configuration = Self.configuration(cacheDirectory: directory)
        try await withHTTPClient { client in
            let port = Eventually<Int>()
            try await withServices(try PeerServer.makeServices(configuration: configuration, httpClient: client, logger: testLogger) { await port.set($0) }) {
                _ = try await port.wait()
                #expect(throws: PeerServer.StartError.self) {
                    _ = try PeerServer.makeServices(configuration: configuration, httpClient: client, logger: testLogger)
                }
            }
            // Once the first has stopped, the directory is free again.
            try await withServices(try PeerServer.makeServices(configuration: configuration, httpClient: client, logger: testLogger)) {}
        }
    }

    @Test func theCacheAPIListsAndRemovesFiles() async throws {
        try await withCachingPeer { h in
            let range = ByteRange(first: 0, last: 262_143)
            _ = try await h.fetch(range, url: h.fileURL + "?X-Signature=secret")
            let listing = try await h.client.execute(HTTPClientRequest(url: h.peerURL + "/v1/cache"), timeout: .seconds(10))
            let text = String(buffer: try await listing.body.collect(upTo: 1 << 20))
            #expect(text.contains("a.bin"))
            #expect(!text.contains("secret"), "listings show URLs without their query string")
            #expect(text.contains("\"storedBytes\":262144"))
            var delete = HTTPClientRequest(url: h.peerURL + "/v1/cache")
            delete.method = .DELETE
            let removed = try await h.client.execute(delete, timeout: .seconds(10))
            #expect(String(buffer: try await removed.body.collect(upTo: 1 << 20)).contains("\"removed\":1"))
            let (_, _, shared) = try await h.fetch(range, url: h.fileURL + "?X-Signature=secret")
            #expect(shared == 0)
            #expect(h.origin.getRequests == 2)
        }
    }

    @Test func preheatRequestsAreCheckedLikeFetches() async throws {
        try await withCachingPeer { h in
            func preheat(_ url: String, ifRange: String?) async throws -> (Int, String) {
                var request = h.request(url, range: ByteRange(first: 0, last: 65_535), ifRange: ifRange)
                request.url = request.url.replacingOccurrences(of: "/v1/fetch?", with: "/v1/preheat?")
                request.method = .POST
                let response = try await h.client.execute(request, timeout: .seconds(30))
                return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
            }
            #expect(try await preheat("file:///etc/passwd", ifRange: "\"v1\"").0 == 400)
            let (status, text) = try await preheat(h.fileURL, ifRange: nil)
            #expect(status == 400 && text.contains("missing-validator"))
            let (ok, answer) = try await preheat(h.fileURL, ifRange: "\"v1\"")
            #expect(ok == 200 && answer.contains("\"bytes\":65536"))
            // Now stored: a fetch needs no origin.
            let requests = h.origin.getRequests
            let (_, body, shared) = try await h.fetch(ByteRange(first: 0, last: 65_535))
            #expect(body == h.expected(ByteRange(first: 0, last: 65_535)))
            #expect(shared == 65_536)
            #expect(h.origin.getRequests == requests)
        }
    }
}
