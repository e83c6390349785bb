import DDLCore
@testable import DDLTracker
import Foundation
import NIOCore
import NIOFoundationCompat
import Testing

/// The peers the tracker lists for one file (`GET /v1/peers?file=KEY&limit=K`).
@Suite struct PeerRankingTests {
    /// The `limit` peers of highest weight for `key`, computed without the tracker.
    func bruteForce(_ endpoints: [(String, Int)], key: String, limit: Int) -> [String] {
        let file = Rendezvous.fileHash(key: key)
        return endpoints
            .map { (weight: Rendezvous.listWeight(file: file, peer: Rendezvous.peerHash(host: $0.0, port: $0.1)), name: "\($0.0):\($0.1)") }
            .sorted { $0.weight > $1.weight }
            .prefix(limit).map(\.name)
    }

    func names(_ peers: [TrackerAPI.Peer]) -> [String] { peers.map { "\($0.host):\($0.port)" } }

    /// 200 peers, one per address (the usual swarm: one `ddl server` per machine).
    let endpoints = (0..<200).map { ("10.0.\($0 / 100).\($0 % 100 + 1)", 6000 + $0 % 3) }

    func registry(_ endpoints: [(String, Int)], source: ((String, Int)) -> String = { $0.0 }) async -> PeerRegistry {
        let registry = PeerRegistry(capacity: 100_000, capacityPerSource: 100)
        for endpoint in endpoints {
            _ = await registry.register(host: endpoint.0, port: endpoint.1, name: nil, source: source(endpoint))
        }
        return registry
    }

    @Test func aFileGetsTheSamePeersWhateverTheOrderTheyRegisteredIn() async throws {
        let forward = await registry(endpoints)
        let backward = await registry(endpoints.reversed())
        for key in ["0123456789abcdef", Rendezvous.fileKey(url: "https://cdn.example/f.iso")] {
            let listed = names(await forward.list(forFile: key, limit: 10))
            #expect(listed == bruteForce(endpoints, key: key, limit: 10), "the highest weights, highest first")
            #expect(names(await backward.list(forFile: key, limit: 10)) == listed, "another tracker with the same peers lists the same")
        }
        #expect(await forward.list(forFile: "k", limit: 500).count == 200, "a limit above the peers lists them all")
    }

    @Test func filesSpreadOverThePeers() async throws {
        let registry = await registry(endpoints)
        var times: [String: Int] = [:]
        for index in 0..<50 {
            for name in names(await registry.list(forFile: Rendezvous.fileKey(url: "https://o/file-\(index)"), limit: 10)) {
                times[name, default: 0] += 1
            }
        }
        // 50 files × 10 places over 200 peers: each peer 2.5 times on average.
        #expect(times.count > 150, "only \(times.count) of 200 peers are listed for any of 50 files")
        #expect(times.values.max()! <= 10, "one peer is listed for \(times.values.max()!) of 50 files")
    }

    @Test func aPresignedURLSignedAnewKeepsItsKey() {
        let key = Rendezvous.fileKey(url: "https://bucket.s3.example/f.iso?X-Amz-Signature=aaa&X-Amz-Expires=60")
        #expect(key == Rendezvous.fileKey(url: "https://bucket.s3.example/f.iso?X-Amz-Signature=bbb&X-Amz-Expires=60"))
        #expect(key == Rendezvous.fileKey(url: "https://user:secret@bucket.s3.example/f.iso"))
        #expect(key != Rendezvous.fileKey(url: "https://bucket.s3.example/g.iso"))
        #expect(key.count == 16 && key.allSatisfy(\.isHexDigit))
    }

    @Test func anAddressThatRegisteredManyPeersTakesNoMorePlacesThanTheOthers() async throws {
        // 32 peers from one address (the most max_peers_per_address lets it keep), 20 honest
        // machines with one each: one place of 10 at most, whatever the weights.
        let flood = (0..<32).map { ("10.9.0.\($0 + 1)", 6000) }
        let honest = (0..<20).map { ("10.1.0.\($0 + 1)", 6000) }
        let registry = await registry(flood + honest, source: { $0.0.hasPrefix("10.9.") ? "10.9.9.9" : $0.0 })
        for index in 0..<20 {
            let listed = names(await registry.list(forFile: "file-\(index)", limit: 10))
            #expect(listed.count == 10)
            #expect(listed.filter { $0.hasPrefix("10.9.") }.count <= 1, "file-\(index): \(listed)")
        }
        // Three addresses with 30, 5 and 1 peers, 12 places: in turn, 6 + 5 + 1, and the
        // first address's 6 are its highest.
        let a = (0..<30).map { ("10.2.0.\($0 + 1)", 1) }, b = (0..<5).map { ("10.3.0.\($0 + 1)", 1) }, c = [("10.4.0.1", 1)]
        let mixed = await self.registry(a + b + c, source: { String($0.0.prefix(6)) })
        let listed = names(await mixed.list(forFile: "x", limit: 12))
        #expect(listed.filter { $0.hasPrefix("10.2.") }.count == 6)
        #expect(listed.filter { $0.hasPrefix("10.3.") }.count == 5)
        #expect(listed.filter { $0.hasPrefix("10.4.") }.count == 1)
        #expect(Set(listed.filter { $0.hasPrefix("10.2.") }) == Set(bruteForce(a, key: "x", limit: 6)))
    }

    @Test func expiredPeersAreNotListed() async throws {
        let clock = ManualClock()
        let registry = PeerRegistry(ttl: .seconds(30), now: clock.now)
        _ = await registry.register(host: "10.0.0.1", port: 1, name: String?.none, source: "10.0.0.1")
        clock.advance(by: .seconds(20))
        _ = await registry.register(host: "10.0.0.2", port: 1, name: String?.none, source: "10.0.0.2")
        #expect(await registry.list(forFile: "f", limit: 10).count == 2)
        clock.advance(by: .seconds(15))
        #expect(names(await registry.list(forFile: "f", limit: 10)) == ["10.0.0.2:1"])
    }

    @Test func requestsForAFileBeingRankedWaitForThatRanking() async throws {
        let registry = await registry(endpoints)
        let bodies = try await withThrowingTaskGroup(of: ByteBuffer.self) { group in
            for _ in 0..<64 { group.addTask { try await registry.listDocument(forFile: "f-1", limit: 10) } }
            return try await group.reduce(into: [ByteBuffer]()) { $0.append($1) }
        }
        #expect(Set(bodies).count <= 2)
        // One ranking, or two when a second began in between (each second ranks anew).
        let rankings = await registry.rankingsStarted
        #expect(rankings <= 2, "\(rankings) rankings for 64 requests of one file")
        let peers = try JSONDecoder().decode(TrackerAPI.PeerList.self, from: Data(buffer: bodies[0])).peers
        #expect(names(peers) == bruteForce(endpoints, key: "f-1", limit: 10))
        _ = try await registry.listDocument(forFile: "f-2", limit: 10)
        let after = await registry.rankingsStarted
        #expect(after == rankings + 1)
    }

    @Test func theBoundedHeapFindsTheLargest() {
        var generator = SeededGenerator(seed: 11)
        for round in 0..<200 {
            let n = Int.random(in: 0...300, using: &generator)
            // Few distinct weights, so ties are common: lower index wins them.
            let weights = (0..<n).map { _ in UInt64.random(in: 0...UInt64(max(1, n / 4)), using: &generator) }
            let candidates = Array(0..<n).shuffled(using: &generator)
            let count = Int.random(in: 0...n + 2, using: &generator)
            let expected = Array(0..<n).sorted { weights[$0] != weights[$1] ? weights[$0] > weights[$1] : $0 < $1 }.prefix(count)
            #expect(Set(PeerRanking.largest(count, of: candidates, weights)) == Set(expected), "round \(round)")
        }
    }
}
