import AsyncHTTPClient
import DDLApp
import DDLClient
import DDLCore
import DDLTestOrigin
import DDLTrackerClient
import Foundation
import Testing

/// End to end, in one process: a real test origin, tracker and peer servers on loopback, and
/// the real client.
@Suite struct DownloadTests {
    func swarmOptions(size: Int64, peers: [String] = ["127.0.0.1", "127.0.0.1", "127.0.0.1"]) -> LocalSwarm.Options {
        var options = LocalSwarm.Options()
        options.originSize = size
        options.peerHosts = peers
        return options
    }

    @Test func swarmDownloadIsByteExactAndEveryPeerServes() async throws {
        let size: Int64 = 24 << 20 + 12345
        try await LocalSwarm.run(swarmOptions(size: size, peers: ["127.0.0.2", "127.0.0.3", "127.0.0.4"])) { swarm in
            let directory = try makeTemporaryDirectory()
            var configuration = ClientConfiguration(url: swarm.fileURL("big.bin"))
            configuration.trackerURLs = [swarm.trackerURL]
            configuration.token = swarm.token
            configuration.downloadDirectory = directory
            configuration.pieceSize = 1 << 20
            configuration.progress = .quiet
            let observer = RecordingObserver()
            let summary = try await download(configuration, observer: observer)
            #expect(summary.path == directory + "/big.bin")
            #expect(summary.bytes == size)
            #expect(summary.mode == "swarm")
            #expect(summary.sha256 == swarm.origin!.content.sha256())
            #expect(try sha256(ofFile: summary.path) == summary.sha256)
            #expect(!FileManager.default.fileExists(atPath: summary.path + ".part"))
            #expect(observer.start?.sources.count == 4)
            for (index, stats) in swarm.peerStats.enumerated() {
                #expect(stats.bytesServed > 0, "peer \(index + 1) served nothing")
            }
            #expect(summary.sources.contains { $0.source == "self" && $0.bytes > 0 })
            #expect(summary.sources.filter { $0.source.hasPrefix("peer 127.0.0.") }.count == 3)
        }
    }

    @Test func noSelfTakesEveryByteFromPeers() async throws {
        try await LocalSwarm.run(swarmOptions(size: 6 << 20, peers: ["127.0.0.1", "127.0.0.1"])) { swarm in
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.trackerURLs = [swarm.trackerURL]
            configuration.token = swarm.token
            configuration.outputFile = try makeTemporaryDirectory() + "/out.bin"
            configuration.useSelf = false
            configuration.pieceSize = 512 << 10
            let summary = try await download(configuration)
            #expect(summary.sha256 == swarm.origin!.content.sha256())
            // This machine fetched no piece, only spot-check windows from the origin (it
            // referees peers also with --no-self): the first and last 64 KiB of each peer's
            // first delivery, a window in each 12.5 MiB (none here) and a probe per endgame race.
            let own = summary.sources.first { $0.source == "self" }
            #expect((own?.pieces ?? 0) == 0)
            #expect((own?.bytes ?? 0) < 3 << 20, "\(summary.sources)")
            #expect(swarm.peerStats.map(\.bytesServed).reduce(0, +) >= 6 << 20)
        }
    }

    @Test func directModeWithoutTracker() async throws {
        try await LocalSwarm.run(swarmOptions(size: 5 << 20 + 7, peers: [])) { swarm in
            var configuration = ClientConfiguration(url: swarm.fileURL("direct.bin"))
            configuration.outputFile = try makeTemporaryDirectory() + "/direct.bin"
            configuration.connections = 3
            configuration.pieceSize = 256 << 10
            let observer = RecordingObserver()
            let summary = try await download(configuration, observer: observer)
            #expect(summary.mode == "direct")
            #expect(summary.sha256 == swarm.origin!.content.sha256())
            #expect(observer.notices.contains { $0.contains("no tracker configured") && $0.contains("3 connections") })
            // Ranged requests: more than one GET reached the origin.
            #expect(swarm.origin!.getRequests > 3)
        }
    }

    @Test func unreachableTrackerFallsBackToDirect() async throws {
        try await LocalSwarm.run(swarmOptions(size: 1 << 20, peers: [])) { swarm in
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = try makeTemporaryDirectory() + "/f.bin"
            configuration.trackerURLs = ["http://127.0.0.1:1"]
            let observer = RecordingObserver()
            let summary = try await download(configuration, observer: observer)
            #expect(summary.sha256 == swarm.origin!.content.sha256())
            #expect(observer.notices.contains { $0.contains("tracker unreachable") })
        }
    }

    /// With --no-self there is nothing to fall back to: an unreachable tracker is a network
    /// failure (exit 3) that says so, not "no peers" (a usage error).
    @Test func noSelfWithAnUnreachableTrackerIsANetworkFailure() async throws {
        try await LocalSwarm.run(swarmOptions(size: 1 << 20, peers: [])) { swarm in
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = try makeTemporaryDirectory() + "/f.bin"
            configuration.trackerURLs = ["http://127.0.0.1:1"]
            configuration.useSelf = false
            let result: Result<DownloadSummary, DownloadError>
            do throws(DownloadError) { result = .success(try await download(configuration)) } catch { result = .failure(error) }
            guard case let .failure(error) = result else {
                Issue.record("downloaded without peers and without this machine")
                return
            }
            #expect(error.exitCode == 3)
            #expect(error.description.contains("tracker could not be asked"), "\(error)")
        }
    }

    @Test func trackerWithoutPeersFallsBackToDirect() async throws {
        try await LocalSwarm.run(swarmOptions(size: 1 << 20, peers: [])) { swarm in
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = try makeTemporaryDirectory() + "/f.bin"
            configuration.trackerURLs = [swarm.trackerURL]
            configuration.token = swarm.token
            let observer = RecordingObserver()
            let summary = try await download(configuration, observer: observer)
            #expect(summary.mode == "direct")
            #expect(observer.notices.contains { $0.contains("no peers") })
        }
    }

    @Test(arguments: [false, true])
    func originWithoutRangeSupportOrLengthIsOneStream(noLength: Bool) async throws {
        try await LocalSwarm.run(swarmOptions(size: 3 << 20 + 1, peers: ["127.0.0.1"])) { swarm in
            swarm.origin!.update {
                $0.noRange = true
                $0.noLength = noLength
            }
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.trackerURLs = [swarm.trackerURL]
            configuration.token = swarm.token
            configuration.outputFile = try makeTemporaryDirectory() + "/one.bin"
            let observer = RecordingObserver()
            let summary = try await download(configuration, observer: observer)
            #expect(summary.mode == "single")
            #expect(summary.sha256 == swarm.origin!.content.sha256())
            #expect(observer.notices.contains { $0.contains("one stream") })
            #expect(swarm.peerStats[0].bytesServed == 0)
        }
    }

    @Test func headRefusedFallsBackToRangedGet() async throws {
        try await LocalSwarm.run(swarmOptions(size: 2 << 20, peers: [])) { swarm in
            swarm.origin!.update { $0.headNotAllowed = true }
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = try makeTemporaryDirectory() + "/h.bin"
            let summary = try await download(configuration)
            #expect(summary.mode == "direct")
            #expect(summary.sha256 == swarm.origin!.content.sha256())
        }
    }

    @Test func redirectsAreFollowedAndTheFinalURLPinned() async throws {
        try await LocalSwarm.run(swarmOptions(size: 2 << 20, peers: ["127.0.0.1"])) { swarm in
            let directory = try makeTemporaryDirectory()
            var configuration = ClientConfiguration(url: swarm.originURL! + "/redirect/3/landed.iso")
            configuration.trackerURLs = [swarm.trackerURL]
            configuration.token = swarm.token
            configuration.downloadDirectory = directory
            configuration.pieceSize = 256 << 10
            let summary = try await download(configuration)
            #expect(summary.url.hasSuffix("/files/landed.iso"))
            #expect(summary.path == directory + "/landed.iso")
            #expect(summary.sha256 == swarm.origin!.content.sha256())
            #expect(swarm.peerStats[0].bytesServed > 0)
        }
    }

    @Test func contentDispositionNameIsSanitizedAndNeverEscapesTheDirectory() async throws {
        try await LocalSwarm.run(swarmOptions(size: 1 << 20, peers: [])) { swarm in
            swarm.origin!.update { $0.contentDisposition = "attachment; filename=\"../../escape.txt\"" }
            let directory = try makeTemporaryDirectory()
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.downloadDirectory = directory
            let summary = try await download(configuration)
            #expect(summary.path == directory + "/escape.txt")
        }
    }

    @Test func existingFileIsNotOverwrittenUnlessAsked() async throws {
        try await LocalSwarm.run(swarmOptions(size: 1 << 20, peers: [])) { swarm in
            let path = try makeTemporaryDirectory() + "/keep.bin"
            try Data("precious".utf8).write(to: URL(fileURLWithPath: path))
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = path
            await #expect(throws: DownloadError.self) { try await download(configuration) }
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "precious")
            configuration.overwrite = true
            let summary = try await download(configuration)
            #expect(try sha256(ofFile: path) == summary.sha256)
        }
    }

    @Test func originErrorsFailWithTheirStatusAndExitCode() async throws {
        try await LocalSwarm.run(swarmOptions(size: 1 << 20, peers: [])) { swarm in
            var configuration = ClientConfiguration(url: swarm.originURL! + "/nothing-here")
            configuration.outputFile = try makeTemporaryDirectory() + "/x.bin"
            do throws(DownloadError) {
                _ = try await download(configuration)
                Issue.record("expected a failure")
            } catch {
                #expect(error == .origin("the origin answered HTTP 404 for \(configuration.url)", status: 404))
                #expect(error.exitCode == 4)
            }
        }
    }

    @Test func deadPeerIsWorkedAroundAndTheFileIsStillExact() async throws {
        try await LocalSwarm.run(swarmOptions(size: 8 << 20, peers: ["127.0.0.1"])) { swarm in
            // A registered peer that refuses connections.
            try await withHTTPClient { client in
                _ = try await TrackerClient(baseURL: swarm.trackerURL, httpClient: client, token: swarm.token).register(.init(port: 1, host: "127.0.0.1", name: "dead"))
            }
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.trackerURLs = [swarm.trackerURL]
            configuration.token = swarm.token
            configuration.outputFile = try makeTemporaryDirectory() + "/d.bin"
            configuration.pieceSize = 512 << 10
            let observer = RecordingObserver()
            let summary = try await download(configuration, observer: observer)
            #expect(summary.sha256 == swarm.origin!.content.sha256())
            #expect(observer.failedPieces > 0)
            #expect(!summary.sources.contains { $0.source == "peer 127.0.0.1:1" && $0.bytes > 0 })
        }
    }

    @Test func fileChangingOnTheServerStopsTheDownload() async throws {
        try await LocalSwarm.run(swarmOptions(size: 4 << 20, peers: [])) { swarm in
            let origin = swarm.origin!
            let path = try makeTemporaryDirectory() + "/c.bin"
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = path
            configuration.connections = 2
            configuration.pieceSize = 256 << 10
            // The file changes while the download is held half way through.
            let gate = origin.pause(atOffset: 2 << 20)
            let result = try await download(configuration, pausedAt: gate) {
                origin.update { $0.etag = "\"v2\"" }
            }
            switch result {
            case .success:
                Issue.record("expected an integrity failure")
            case .failure(let error):
                #expect(error.exitCode == 5)
                #expect(error.description.contains("changed on the server"))
            }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }
}
