import DDLApp
import DDLClient
import DDLCore
import Foundation
import Synchronization
import Testing

/// Issue 11's first promise, with the defaults only (`--verify-peers 0.02`, the piece size
/// ddl picks): a peer that lies about everything it serves, or about the head or the tail of
/// every answer, is caught in every download whatever the file's size, and the file ends
/// byte-exact. (Before, with a 2 % random sample, a garbage peer went unnoticed in 22 of 25
/// downloads of 8 MiB: small files got about one window, checked with 2 % probability.)
@Suite struct IntegrityDefaultsTests {
    enum Liar: String, CaseIterable, Sendable {
        case garbage
        /// Wrong only in the first 4 KiB of each answer.
        case head
        /// Wrong only in the last 4 KiB of each answer.
        case tail

        var fault: FaultyPeer.Fault {
            switch self {
            case .garbage: .garbage
            case .head: .scripted { range in FaultyPeer.Answer(corrupt: 0..<min(4096, range.count)) }
            case .tail: .scripted { range in FaultyPeer.Answer(corrupt: max(0, range.count - 4096)..<range.count) }
            }
        }
    }

    /// Sizes from a fraction of a window to several pieces with a short tail.
    static let sizes: [Int64] = [100 << 10, 1 << 20, (9 << 20) + 12345]

    /// Every liar, with and without `--no-self`, at every size: 18 downloads in a row.
    @Test func aLiarIsCaughtInEveryDownloadWithTheDefaults() async throws {
        var count = 0
        for liar in Liar.allCases {
            for useSelf in [true, false] {
                count += try await downloads(through: liar, useSelf: useSelf)
            }
        }
        // The premise: the liar got bytes into a good part of the downloads (which source
        // takes a piece is the scheduler's call; a one-piece file often goes to another).
        #expect(count >= 6, "the liar delivered into \(count) of \(Liar.allCases.count * 2 * Self.sizes.count) downloads")
    }

    /// Downloads every size through `liar`; returns in how many it delivered anything.
    func downloads(through liar: Liar, useSelf: Bool) async throws -> Int {
        let delivered = Atomic(0)
        for size in Self.sizes {
            var options = LocalSwarm.Options()
            options.originSize = size
            options.peerHosts = ["127.0.0.1"]
            try await LocalSwarm.run(options) { swarm in
                // Honest sources take a while, so that the (instant) liar gets work.
                swarm.origin!.update { $0.bytesPerSecond = 16 << 20 }
                try await FaultTests().withFaultyPeer(liar.fault, swarm: swarm) { liarID in
                    var configuration = ClientConfiguration(url: swarm.fileURL())
                    configuration.trackerURLs = [swarm.trackerURL]
                    configuration.token = swarm.token
                    configuration.outputFile = try makeTemporaryDirectory() + "/f.bin"
                    configuration.useSelf = useSelf
                    let summary = try await download(configuration)
                    let expected = swarm.origin!.content.sha256()
                    #expect(try sha256(ofFile: configuration.outputFile!) == expected, "\(liar) liar, self \(useSelf), \(size) bytes: the file is wrong")
                    // Whatever it wrote was checked: the first delivery always is. A garbage
                    // peer's bytes are all wrong, so it is banned whenever it wrote any. The
                    // others' lies may not have landed (a copy that starts behind another
                    // one writes only past it): the exact file above says that whatever
                    // landed was caught.
                    let checks = summary.sources.first { $0.source == liarID }?.checks
                    if checks != nil { delivered.add(1, ordering: .relaxed) }
                    if liar == .garbage {
                        #expect(checks == nil || summary.banned == [liarID], "\(size) bytes: banned \(summary.banned), \(summary.sources)")
                    }
                    #expect(summary.banned.allSatisfy { $0 == liarID })
                }
            }
        }
        return delivered.load(ordering: .relaxed)
    }
}
