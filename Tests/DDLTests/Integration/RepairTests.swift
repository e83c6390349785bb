import Crypto
import DDLApp
import DDLClient
import DDLCore
import DDLTestOrigin
import Foundation
import Testing

/// Repair instead of refetch (issue 11): when the file fails its end check against a
/// published digest, the bytes that came from peers are compared with the origin's (windows
/// first, whole segments when no window disagrees), the sources that wrote wrong ones are
/// banned, only their pieces are fetched again, and the file is checked again.
@Suite struct RepairTests {
    func options(size: Int64, peers: Int) -> LocalSwarm.Options {
        AdversaryTests().options(size: size, peers: peers)
    }

    /// No spot checks: the liar's bytes reach the end check.
    func configuration(_ swarm: LocalSwarm, pieceSize: Int64, useSelf: Bool = true) throws -> ClientConfiguration {
        try AdversaryTests().configuration(swarm, pieceSize: pieceSize, useSelf: useSelf, rate: 0)
    }

    /// The origin states the file's SHA-256 (`Repr-Digest`).
    func publishDigest(_ origin: TestOrigin, wrong: Bool = false) {
        let digest = wrong ? Data(count: 32).base64EncodedString() : origin.digest(SHA256.self).base64
        origin.update { $0.digestHeaders = ["Repr-Digest": "sha-256=:\(digest):"] }
    }

    /// A liar whose lies land in the file (no spot checks): the end check fails, the liar's
    /// pieces are found, fetched again, and the file is exact. Only they are fetched again.
    @Test(arguments: [true, false])
    func aLiarFoundAtTheEndIsBannedAndOnlyItsPiecesAreFetchedAgain(useSelf: Bool) async throws {
        let pieceSize: Int64 = 512 << 10
        let size: Int64 = 8 << 20
        try await LocalSwarm.run(options(size: size, peers: useSelf ? 0 : 1)) { swarm in
            let origin = swarm.origin!
            publishDigest(origin)
            // Honest sources take a while per piece, so that the (instant) liar gets work.
            origin.update { $0.bytesPerSecond = 8 << 20 }
            try await FaultTests().withFaultyPeer(.garbage, swarm: swarm) { liar in
                let configuration = try configuration(swarm, pieceSize: pieceSize, useSelf: useSelf)
                let observer = RecordingObserver()
                let summary = try await download(configuration, observer: observer)
                #expect(try sha256(ofFile: configuration.outputFile!) == origin.content.sha256())
                guard summary.sources.contains(where: { $0.source == liar && $0.pieces > 0 }) || summary.repairedPieces > 0 else {
                    Issue.record("the liar delivered nothing: \(summary.sources)")
                    return
                }
                #expect(summary.banned == [liar])
                #expect(summary.repairedPieces > 0 && summary.repairedPieces < Int(size / pieceSize), "repaired \(summary.repairedPieces)")
                #expect(summary.integrity == .verified(algorithm: "sha-256", source: "Repr-Digest"), "\(summary.integrity)")
                #expect(observer.notices.contains { $0.contains("repairing: fetching") }, "\(observer.notices)")
            }
        }
    }

    /// A peer that flips one byte in the middle of each answer of 4 MiB: a window lands on it
    /// only by luck, so the repair may have to compare whole segments. Either way the file
    /// ends exact.
    @Test func aSingleFlippedByteInAPieceIsFoundAndRepaired() async throws {
        let pieceSize: Int64 = 4 << 20
        let size: Int64 = 16 << 20
        try await LocalSwarm.run(options(size: size, peers: 1)) { swarm in
            let origin = swarm.origin!
            publishDigest(origin)
            origin.update { $0.bytesPerSecond = 16 << 20 }
            let flipper: FaultyPeer.Fault = .scripted { range in FaultyPeer.Answer(corrupt: (range.count / 2)..<(range.count / 2 + 1)) }
            try await AdversaryTests().withFaultyPeers([flipper], swarm: swarm) { ids in
                let configuration = try configuration(swarm, pieceSize: pieceSize, useSelf: false)
                let summary = try await download(configuration)
                #expect(try sha256(ofFile: configuration.outputFile!) == origin.content.sha256())
                #expect(summary.banned.allSatisfy { $0 == ids[0] })
                let flipped = summary.sources.first { $0.source == ids[0] }?.pieces ?? 0
                #expect(flipped == 0 || summary.banned == [ids[0]], "\(summary.sources)")
            }
        }
    }

    /// The origin publishes a digest its own bytes do not have: every byte from peers
    /// matches the origin's, so there is nothing to repair; exit 5, nothing under the final
    /// name, and the message says the origin disagrees with its digest.
    @Test func aDigestTheOriginsBytesDoNotHaveIsNotRepairedForever() async throws {
        try await LocalSwarm.run(options(size: 4 << 20, peers: 2)) { swarm in
            let origin = swarm.origin!
            publishDigest(origin, wrong: true)
            var configuration = try configuration(swarm, pieceSize: 512 << 10)
            configuration.verifyPeersRate = 0.02
            let observer = RecordingObserver()
            let result: Result<DownloadSummary, DownloadError>
            do throws(DownloadError) { result = .success(try await download(configuration, observer: observer)) } catch { result = .failure(error) }
            guard case let .failure(error) = result else {
                Issue.record("a file that does not match its digest was accepted")
                return
            }
            #expect(error.exitCode == 5)
            #expect(!FileManager.default.fileExists(atPath: configuration.outputFile!))
            #expect(FileManager.default.fileExists(atPath: configuration.outputFile! + ".part"))
            #expect(observer.notices.contains { $0.contains("the origin serves other bytes") }, "\(observer.notices)")
        }
    }
}
