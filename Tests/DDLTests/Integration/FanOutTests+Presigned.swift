import DDLApp
import DDLClient
import DDLCore
import DDLTestOrigin
import Foundation
import Testing

/// One object behind presigned URLs that differ by their signature (signed again later, or
/// for another user): the swarm treats them as one file. Clients give each piece to the same
/// peer and the peers' caches serve it, while every request to the origin carries the
/// client's own signature (the test origin refuses one without).
extension FanOutTests {
    func presignedConfiguration(_ swarm: LocalSwarm, signature: String) throws -> ClientConfiguration {
        var configuration = try configuration(swarm)
        configuration.url = try #require(swarm.originURL) + TestOrigin.presignedURL("file.bin", signature: signature)
        return configuration
    }

    @Test func aFileSignedAgainComesFromThePeersCaches() async throws {
        try await LocalSwarm.run(try options(peers: ["127.0.0.2", "127.0.0.3"])) { swarm in
            let origin = try #require(swarm.origin)
            var first = try presignedConfiguration(swarm, signature: "sigAAAA1111")
            first.useSelf = false
            _ = try await download(first)
            try expectExact(first, swarm)
            let before = origin.bytesServed
            let second = try presignedConfiguration(swarm, signature: "sigBBBB2222")
            let summary = try await download(second)
            try expectExact(second, swarm)
            let taken = origin.bytesServed - before
            // As for a repeat download of one URL (aRepeatDownloadComesFromTheCaches): the spot
            // checks' windows, the probe and each peer's one-byte check of the new URL go to
            // the origin; a piece stolen in the first download may go to its owner if that
            // peer's holdings answer comes late under load.
            #expect(Double(taken) <= 0.2 * Double(Self.size), "the re-signed repeat took \(taken) bytes from the origin")
            #expect(Double(summary.cachedBytes) >= 0.85 * Double(Self.size), "\(summary.sources.map { "\($0.source): \($0.bytes) \($0.cachedBytes) \($0.pieces)" })")
            #expect((summary.sources.first { $0.source == "self" }?.pieces ?? 0) == 0)
            #expect(origin.presignedRefusals == 0, "every request to the origin carried a signature")
        }
    }

    @Test func aFilePreheatedWithOneSignatureIsDownloadedWithAnotherFromTheCaches() async throws {
        try await LocalSwarm.run(try options(peers: ["127.0.0.2", "127.0.0.3"])) { swarm in
            let origin = try #require(swarm.origin)
            let preheating = try presignedConfiguration(swarm, signature: "sigAAAA1111")
            let preheat = try await preheat(preheating)
            #expect(preheat.failures.isEmpty)
            #expect(preheat.bytes == Self.size)
            let before = origin.bytesServed
            var configuration = try presignedConfiguration(swarm, signature: "sigBBBB2222")
            configuration.useSelf = false
            let summary = try await download(configuration)
            try expectExact(configuration, swarm)
            // Each piece went to the peer the preheat gave it to, which served it from its
            // cache: owners and cache keys are the same whatever the signature.
            #expect(summary.cachedBytes == Self.size, "\(summary.sources.map { "\($0.source): \($0.bytes) \($0.cachedBytes) \($0.pieces)" })")
            let taken = origin.bytesServed - before
            #expect(Double(taken) <= 0.15 * Double(Self.size), "the origin sent \(taken) bytes")
            #expect(origin.presignedRefusals == 0)
        }
    }

    /// Four peers, so that clients that disagreed on owners would pick the same owner for only
    /// a quarter of the pieces and the origin would send 1.75 times the file.
    @Test func twoClientsWithDifferentSignaturesAtOnceGetEachByteFromTheOriginAboutOnce() async throws {
        try await LocalSwarm.run(try options(peers: ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"])) { swarm in
            let (summaryA, summaryB) = try await downloadAtOnce(
                try presignedConfiguration(swarm, signature: "sigAAAA1111"), try presignedConfiguration(swarm, signature: "sigBBBB2222"), swarm)
            let origin = try #require(swarm.origin).bytesServed
            // With the signature in the cache keys, the origin sends the file twice; with it in
            // the owners' key alone, 1.75 times (a piece's two owners differ 3 times in 4).
            #expect(Double(origin) <= 1.5 * Double(Self.size), "the origin sent \(origin) bytes for two downloads of \(Self.size)")
            let shared = summaryA.cachedBytes + summaryB.cachedBytes
            #expect(Double(shared) >= 0.5 * Double(Self.size), "only \(shared) bytes came from caches")
        }
    }
}
