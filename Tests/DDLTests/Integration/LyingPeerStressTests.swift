import DDLApp
import DDLClient
import DDLCore
import Foundation
import Testing

/// The endgame race of issue 10, as it was found: many downloads through honest peers and a
/// peer that answers every range with garbage and correct headers. Two copies of a piece used
/// to both write every byte into the `.part`, so a losing (lying) copy could overwrite the
/// winner's bytes after the piece was credited to the winner; a ban re-queued only the pieces
/// credited to the liar, and about one download in 150 ended with exit 0 and garbage in the
/// file. Now each byte has one writer and a ban re-fetches every piece the liar wrote into.
@Suite struct LyingPeerStressTests {
    @Test(arguments: [false, true])
    func everyDownloadThroughALiarEndsByteExact(useSelf: Bool) async throws {
        var options = LocalSwarm.Options()
        options.originSize = 2 << 20
        options.peerHosts = ["127.0.0.1", "127.0.0.1"]
        try await LocalSwarm.run(options) { swarm in
            // Honest sources take a while per piece, so the (instant) liar gets work.
            swarm.origin!.update { $0.bytesPerSecond = 8 << 20 }
            try await FaultTests().withFaultyPeer(.garbage, swarm: swarm) { liar in
                let directory = try makeTemporaryDirectory()
                for run in 0..<12 {
                    var configuration = ClientConfiguration(url: swarm.fileURL())
                    configuration.trackerURLs = [swarm.trackerURL]
                    configuration.token = swarm.token
                    configuration.outputFile = directory + "/run-\(run).bin"
                    // Small pieces and a tail: many endgame copies racing each other.
                    configuration.pieceSize = 128 << 10
                    configuration.useSelf = useSelf
                    configuration.verifyPeersRate = 1
                    let summary = try await download(configuration)
                    #expect(try sha256(ofFile: directory + "/run-\(run).bin") == swarm.origin!.content.sha256(), "run \(run)")
                    #expect(summary.sha256 == swarm.origin!.content.sha256(), "run \(run)")
                    // Caught whenever it sent anything (every byte it wrote is checked).
                    let sent = summary.sources.first { $0.source == liar }?.bytes ?? 0
                    #expect(summary.banned == [liar] || sent == 0, "run \(run): banned \(summary.banned), the liar sent \(sent) bytes")
                }
            }
        }
    }
}
