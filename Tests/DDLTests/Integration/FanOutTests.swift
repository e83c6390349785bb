import Crypto
import DDLApp
import DDLClient
import DDLCore
import DDLTestOrigin
import Foundation
import Testing

/// Several clients, one file: peers own pieces (rendezvous hashing), fetch each from the
/// origin once, and serve it to every client from their caches or running fetches.
@Suite struct FanOutTests {
    static let size: Int64 = 16 << 20

    func options(peers: [String]) throws -> LocalSwarm.Options {
        var options = LocalSwarm.Options()
        options.originSize = Self.size
        options.peerHosts = peers
        options.cacheRoot = try makeTemporaryDirectory() + "/caches"
        options.tls = true  // fan-out, caches and preheat as a real swarm runs them: over pinned TLS
        return options
    }

    func configuration(_ swarm: LocalSwarm) throws -> ClientConfiguration {
        var configuration = ClientConfiguration(url: swarm.fileURL())
        configuration.trackerURLs = [swarm.trackerURL]
        configuration.trackerFingerprints = swarm.trackerFingerprints
        configuration.token = swarm.token
        configuration.outputFile = try makeTemporaryDirectory() + "/file.bin"
        configuration.pieceSize = 512 << 10
        configuration.progress = .quiet
        configuration.allowPeerNetworks = [IPNetwork("127.0.0.0/8")!]  // the peers run on loopback
        return configuration
    }

    func expectExact(_ configuration: ClientConfiguration, _ swarm: LocalSwarm, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try sha256(ofFile: configuration.outputFile!) == swarm.origin!.content.sha256(), sourceLocation: sourceLocation)
    }

    /// Runs the two downloads at once (`--no-self`: through the peers only) and checks that
    /// both files are byte-exact.
    func downloadAtOnce(_ first: ClientConfiguration, _ second: ClientConfiguration, _ swarm: LocalSwarm) async throws -> (DownloadSummary, DownloadSummary) {
        var first = first, second = second
        first.useSelf = false
        second.useSelf = false
        async let a = download(first)
        async let b = download(second)
        let summaries = try await (a, b)
        try expectExact(first, swarm)
        try expectExact(second, swarm)
        return summaries
    }

    @Test func twoClientsAtOnceGetEachByteFromTheOriginAboutOnce() async throws {
        try await LocalSwarm.run(try options(peers: ["127.0.0.2", "127.0.0.3"])) { swarm in
            let (summaryA, summaryB) = try await downloadAtOnce(try configuration(swarm), try configuration(swarm), swarm)
            let origin = swarm.origin!.bytesServed
            // Without the caches each client's peers fetch the whole file: 2x, plus checks.
            #expect(Double(origin) <= 1.5 * Double(Self.size), "the origin sent \(origin) bytes for two downloads of \(Self.size)")
            let shared = summaryA.cachedBytes + summaryB.cachedBytes
            #expect(Double(shared) >= 0.5 * Double(Self.size), "only \(shared) bytes came from caches")
            #expect(summaryA.originBytes + summaryB.originBytes + shared == summaryA.sources.reduce(0) { $0 + $1.bytes } + summaryB.sources.reduce(0) { $0 + $1.bytes })
        }
    }

    @Test func aRepeatDownloadComesFromTheCaches() async throws {
        try await LocalSwarm.run(try options(peers: ["127.0.0.2", "127.0.0.3"])) { swarm in
            var first = try configuration(swarm)
            first.useSelf = false
            _ = try await download(first)
            let before = swarm.origin!.bytesServed
            // This machine may fetch too (the default), but the caches hold the file: it waits.
            let second = try configuration(swarm)
            let observer = RecordingObserver()
            let summary = try await download(second, observer: observer)
            try expectExact(second, swarm)
            let origin = swarm.origin!.bytesServed - before
            // Only the spot checks' windows (at 16 MiB, their 64 KiB probes weigh) and the probe
            // still go to the origin.
            #expect(Double(origin) <= 0.2 * Double(Self.size), "the repeat took \(origin) bytes from the origin")
            // (Not all of it: a peer whose holdings answer comes late under load loses the
            // pieces it fetched as a thief to their owners, 512 KiB each here.)
            #expect(Double(summary.cachedBytes) >= 0.85 * Double(Self.size), "\(summary.sources.map { "\($0.source): \($0.bytes) \($0.cachedBytes) \($0.pieces)" })")
            #expect((summary.sources.first { $0.source == "self" }?.pieces ?? 0) == 0)
            #expect(ConsoleObserver.summaryLines(summary).contains { $0.contains("internet traffic saved") })
        }
    }

    @Test func aPeerOnThisMachineFetchesThisMachinesShare() async throws {
        try await LocalSwarm.run(try options(peers: ["127.0.0.2", "127.0.0.3"])) { swarm in
            var configuration = try configuration(swarm)
            configuration.localAddresses = ["127.0.0.2"]
            let observer = RecordingObserver()
            let summary = try await download(configuration, observer: observer)
            try expectExact(configuration, swarm)
            // ("self" may appear with the origin's refereeing traffic, but fetched no piece.)
            #expect((summary.sources.first { $0.source == "self" }?.pieces ?? 0) == 0)
            #expect(observer.notices.contains { $0.contains("runs on this machine") })
            // --self-direct keeps fetching directly (a file the caches do not hold yet: from
            // a warm swarm this machine would fetch nothing over the internet anyway).
            var direct = try self.configuration(swarm)
            direct.url = swarm.fileURL("other.bin")
            direct.localAddresses = ["127.0.0.2"]
            direct.selfViaLocalPeer = false
            direct.outputFile = try makeTemporaryDirectory() + "/direct.bin"
            let directSummary = try await download(direct)
            #expect((directSummary.sources.first { $0.source == "self" }?.pieces ?? 0) > 0)
        }
    }

    /// With the publisher's digest known (here from `Repr-Digest`, at once), the digest
    /// decides and the spot-check sample shrinks to each source's first 64 KiB: a repeat
    /// download from the caches takes almost nothing from the origin.
    @Test func aRepeatDownloadOfAFileWithADigestTakesAlmostNothingFromTheOrigin() async throws {
        try await LocalSwarm.run(try options(peers: ["127.0.0.2", "127.0.0.3", "127.0.0.4"])) { swarm in
            let origin = swarm.origin!
            origin.update { $0.digestHeaders = ["Repr-Digest": "sha-256=:\(origin.digest(SHA256.self).base64):"] }
            var first = try configuration(swarm)
            first.useSelf = false
            _ = try await download(first)
            let before = origin.bytesServed
            let second = try configuration(swarm)
            let summary = try await download(second)
            try expectExact(second, swarm)
            #expect(summary.integrity == .verified(algorithm: "sha-256", source: "Repr-Digest"))
            let refereed = summary.sources.first { $0.source == "self" }?.bytes ?? 0
            // The origin referees 64 KiB of each peer's first delivery, and the endgame's races.
            #expect(refereed <= 4 * 64 << 10, "the origin refereed \(refereed) bytes")
            #expect(Double(summary.cachedBytes) >= 0.85 * Double(Self.size))
            let taken = origin.bytesServed - before
            #expect(Double(taken) <= 0.15 * Double(Self.size), "the repeat took \(taken) bytes from the origin: \(summary.sources.map { "\($0.source): \($0.bytes) \($0.cachedBytes) \($0.pieces)" })")
        }
    }

    @Test func aPreheatedFileComesFromTheCachesWithoutBeingSavedFirst() async throws {
        try await LocalSwarm.run(try options(peers: ["127.0.0.2", "127.0.0.3"])) { swarm in
            let origin = swarm.origin!
            var configuration = try configuration(swarm)
            let preheat = try await preheat(configuration)
            #expect(preheat.failures.isEmpty)
            #expect(preheat.bytes == Self.size)
            #expect(preheat.cachedBefore == 0)
            #expect(!FileManager.default.fileExists(atPath: configuration.outputFile!), "a preheat saves nothing here")
            #expect(origin.bytesServed >= Self.size && Double(origin.bytesServed) <= 1.01 * Double(Self.size))
            let before = origin.bytesServed
            configuration.useSelf = false
            let summary = try await download(configuration)
            try expectExact(configuration, swarm)
            #expect(summary.cachedBytes == Self.size, "every piece came from the cache of the peer it was sent to")
            // What the origin still sends is the spot checks' refereeing: each peer's first
            // 64 KiB and tail, a probe per endgame race, and checks asked again after a
            // timeout, more of both on a loaded machine (1.1 MB of the 16 MiB in a full
            // suite run, 0.3 MB alone). No piece: every byte above came from the caches.
            let taken = origin.bytesServed - before
            #expect(Double(taken) <= 0.15 * Double(Self.size), "the origin sent \(taken) bytes")
        }
    }

    @Test func aFileWithoutAValidatorIsNotPreheated() async throws {
        try await LocalSwarm.run(try options(peers: ["127.0.0.2"])) { swarm in
            swarm.origin!.update { $0.etag = nil; $0.lastModified = nil }
            let configuration = try configuration(swarm)
            await #expect(throws: DownloadError.self) { _ = try await preheat(configuration) }
        }
    }
}
