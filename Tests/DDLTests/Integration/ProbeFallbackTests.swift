import DDLApp
import DDLClient
import DDLCore
import DDLTestOrigin
import Foundation
import Testing

/// The probe when `HEAD` is refused: presigned links (signed for `GET` only, `403` to
/// `HEAD`), servers answering `HEAD` with `405` or another error, and origins refusing both.
@Suite struct ProbeFallbackTests {
    func options(size: Int64, peers: [String] = ["127.0.0.1"]) -> LocalSwarm.Options {
        var options = LocalSwarm.Options()
        options.originSize = size
        options.peerHosts = peers
        return options
    }

    func configuration(_ url: String, swarm: LocalSwarm, directory: String) -> ClientConfiguration {
        var configuration = ClientConfiguration(url: url)
        configuration.trackerURLs = [swarm.trackerURL]
        configuration.token = swarm.token
        configuration.downloadDirectory = directory
        configuration.pieceSize = 256 << 10
        return configuration
    }

    @Test(arguments: [403, 405, 401, 404, 410, 501])
    func anErrorOnHeadFallsBackToARangedGetAndTheFileIsExact(status: Int) async throws {
        try await LocalSwarm.run(options(size: 3 << 20 + 17)) { swarm in
            let origin = swarm.origin!
            origin.update { $0.headStatus = status }
            let directory = try makeTemporaryDirectory()
            let summary = try await download(configuration(swarm.fileURL("head.bin"), swarm: swarm, directory: directory))
            #expect(summary.path == directory + "/head.bin")
            #expect(summary.bytes == origin.content.length)
            #expect(summary.mode == "swarm")
            #expect(summary.sha256 == origin.content.sha256())
            #expect(try sha256(ofFile: summary.path) == origin.content.sha256())
            #expect(origin.headRequests >= 1)
            #expect(swarm.peerStats[0].bytesServed > 0)
        }
    }

    @Test func aPresignedLinkThatRefusesHeadDownloadsThroughItsRedirect() async throws {
        try await LocalSwarm.run(options(size: 2 << 20 + 5)) { swarm in
            let origin = swarm.origin!
            let directory = try makeTemporaryDirectory()
            let summary = try await download(configuration(swarm.originURL! + "/signed/release.iso", swarm: swarm, directory: directory))
            // The signed target is pinned (the peers fetch it too), named after its last segment.
            #expect(summary.url.contains("/s/sig"))
            #expect(summary.url.hasSuffix("/release.iso"))
            #expect(summary.path == directory + "/release.iso")
            #expect(summary.sha256 == origin.content.sha256())
            #expect(try sha256(ofFile: summary.path) == origin.content.sha256())
            #expect(swarm.peerStats[0].bytesServed > 0)
        }
    }

    /// Both pieces of the file are in flight at the peer when every signed URL handed out
    /// so far expires; they complete, and the only origin requests left are the spot checks
    /// of the peer's bytes, which meet the expired URL: the check resolves it again and asks
    /// again, instead of leaving the bytes unchecked (exit 5).
    @Test func aSpotCheckAfterTheSignedURLExpiredResolvesItAgain() async throws {
        try await LocalSwarm.run(options(size: 512 << 10)) { swarm in
            let origin = swarm.origin!
            var configuration = configuration(swarm.originURL! + "/signed/release.iso", swarm: swarm, directory: try makeTemporaryDirectory())
            configuration.useSelf = false  // every origin request of this machine is a check
            configuration.discoverDigests = false  // no digest: the checks must settle
            // Every piece waits after the file's first byte (the probe's bytes=0-0 passes).
            let gate = origin.pause(atOffset: 1)
            let issued = origin.signedURLsIssued
            let result = try await download(configuration, pausedAt: gate) {
                // Both pieces' origin requests are in (the peer keeps 2 in flight), then the URLs expire.
                let both = try await eventually(within: 20) { origin.activeResponses >= 2 }
                #expect(both)
                origin.expireSignedURLs()
            }
            let summary = try result.get()
            #expect(summary.sha256 == origin.content.sha256())
            #expect(origin.signedURLsIssued > issued, "the URL was resolved again")
        }
    }

    /// An expired signed URL is resolved again from the user's URL, checked, handed to every
    /// source (this machine and the peers), and the download goes on.
    @Test func aSignedURLThatExpiresMidDownloadIsResolvedAgain() async throws {
        try await LocalSwarm.run(options(size: 4 << 20 + 3)) { swarm in
            let origin = swarm.origin!
            let directory = try makeTemporaryDirectory()
            let observer = RecordingObserver()
            // Half way through, every signed URL handed out so far expires.
            let gate = origin.pause(atOffset: 2 << 20)
            let result = try await download(
                configuration(swarm.originURL! + "/signed/release.iso", swarm: swarm, directory: directory),
                observer: observer, pausedAt: gate
            ) {
                origin.expireSignedURLs()
            }
            let summary = try result.get()
            #expect(summary.sha256 == origin.content.sha256())
            #expect(try sha256(ofFile: directory + "/release.iso") == origin.content.sha256())
            #expect(observer.notices.contains { $0.contains("again") }, "notices: \(observer.notices)")
            // The probe's GET and the resolution's GET each got a URL (and each HEAD one too).
            #expect(origin.signedURLsIssued >= 4)
        }
    }

    @Test func whenTheRangedGetIsRefusedTooTheDownloadFailsWithExitCode4() async throws {
        try await LocalSwarm.run(options(size: 1 << 20, peers: [])) { swarm in
            let origin = swarm.origin!
            origin.update {
                $0.headStatus = 403
                $0.failNextRequests = 100
                $0.failStatus = 403
            }
            let directory = try makeTemporaryDirectory()
            let url = swarm.fileURL("denied.bin")
            do throws(DownloadError) {
                _ = try await download(configuration(url, swarm: swarm, directory: directory))
                Issue.record("expected a failure")
            } catch {
                #expect(error.exitCode == 4)
                #expect(error == .origin("the origin answered HTTP 403 for \(url)", status: 403))
            }
            #expect(origin.headRequests == 1)
            #expect(origin.getRequests >= 1)
            #expect(!FileManager.default.fileExists(atPath: directory + "/denied.bin"))
            #expect(!FileManager.default.fileExists(atPath: directory + "/denied.bin.part"))
        }
    }
}
