import AsyncHTTPClient
import DDLApp
import DDLClient
import DDLCore
import DDLTestOrigin
import DDLTrackerClient
import Foundation
import Logging
import Testing

/// Issue 3: a download ends byte-exact or fails loudly, and never loses work.
@Suite struct FaultTests {
    func options(size: Int64, peers: [String] = []) -> LocalSwarm.Options {
        var options = LocalSwarm.Options()
        options.originSize = size
        options.peerHosts = peers
        return options
    }

    /// Registers a misbehaving peer with the swarm's tracker while `body` runs.
    func withFaultyPeer(_ fault: FaultyPeer.Fault, swarm: LocalSwarm, _ body: @Sendable @escaping (_ sourceID: String) async throws -> Void) async throws {
        let port = Eventually<Int>()
        let peer = FaultyPeer(content: swarm.origin!.content, fault: fault)
        try await withServices([peer.makeApplication { await port.set($0) }]) {
            try await withHTTPClient { client in
                _ = try await TrackerClient(baseURL: swarm.trackerURL, httpClient: client, token: swarm.token)
                    .register(.init(port: try await port.wait(), host: "127.0.0.1", name: "faulty"))
            }
            try await body("peer 127.0.0.1:\(try await port.wait())")
        }
    }

    @Test func peerDyingMidPieceIsRetriedElsewhere() async throws {
        try await LocalSwarm.run(options(size: 8 << 20, peers: ["127.0.0.1"])) { swarm in
            try await withFaultyPeer(.dieAfter(100_000), swarm: swarm) { faulty in
                var configuration = ClientConfiguration(url: swarm.fileURL())
                configuration.trackerURLs = [swarm.trackerURL]
                configuration.token = swarm.token
                configuration.outputFile = try makeTemporaryDirectory() + "/f.bin"
                configuration.pieceSize = 256 << 10
                let observer = RecordingObserver()
                let summary = try await download(configuration, observer: observer)
                #expect(summary.sha256 == swarm.origin!.content.sha256())
                #expect(observer.failedPieces > 0)
                // It was asked, it failed, it delivered no piece.
                #expect(observer.failedSources.contains(faulty))
                #expect(summary.sources.first { $0.source == faulty }?.pieces ?? 0 == 0)
            }
        }
    }

    @Test(arguments: [FaultyPeer.Fault.stallAfter(1000), .trickle])
    func stalledPeerTimesOutOrIsOvertakenInTheEndgame(fault: FaultyPeer.Fault) async throws {
        try await LocalSwarm.run(options(size: 4 << 20, peers: ["127.0.0.1"])) { swarm in
            try await withFaultyPeer(fault, swarm: swarm) { _ in
                var configuration = ClientConfiguration(url: swarm.fileURL())
                configuration.trackerURLs = [swarm.trackerURL]
                configuration.token = swarm.token
                configuration.outputFile = try makeTemporaryDirectory() + "/s.bin"
                configuration.pieceSize = 256 << 10
                // Short enough to beat the stall (3 s), long enough for a loaded machine.
                configuration.readTimeoutSeconds = 2
                let summary = try await download(configuration)
                #expect(summary.sha256 == swarm.origin!.content.sha256())
            }
        }
    }

    @Test(arguments: [503, 429, 500])
    func transientOriginErrorsAreRetriedHonouringRetryAfter(status: Int) async throws {
        try await LocalSwarm.run(options(size: 2 << 20)) { swarm in
            swarm.origin!.update {
                $0.failNextRequests = 3
                $0.failStatus = status
                $0.retryAfter = 1
            }
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = try makeTemporaryDirectory() + "/r.bin"
            configuration.pieceSize = 512 << 10
            let observer = RecordingObserver()
            let started = ContinuousClock.now
            let summary = try await download(configuration, observer: observer)
            #expect(summary.sha256 == swarm.origin!.content.sha256())
            #expect(observer.failedPieces >= 1)
            // Retry-After: 1 was honoured (a behaviour, not a performance goal).
            #expect(ContinuousClock.now - started >= .milliseconds(900))
        }
    }

    @Test func retryAfterAsAnHTTPDateIsHonoured() async throws {
        try await LocalSwarm.run(options(size: 2 << 20)) { swarm in
            // A date 4 s ahead (whole seconds: at least 3 s from when it is read), far longer
            // than the 0.25-0.4 s the client would back off by itself.
            swarm.origin!.update {
                $0.failNextRequests = 1
                $0.failStatus = 503
                $0.retryAfter = 4
                $0.retryAfterAsDate = true
            }
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = try makeTemporaryDirectory() + "/d.bin"
            configuration.pieceSize = 512 << 10
            configuration.connections = 1
            configuration.discoverDigests = false  // no checksum-file GET may take the failure
            let observer = RecordingObserver()
            let started = ContinuousClock.now
            let summary = try await download(configuration, observer: observer)
            #expect(summary.sha256 == swarm.origin!.content.sha256())
            #expect(observer.failedPieces == 1)
            #expect(ContinuousClock.now - started >= .milliseconds(2500), "the HTTP-date Retry-After was not honoured")
        }
    }

    @Test(arguments: [403, 404, 410])
    func permanentOriginErrorsFailFast(status: Int) async throws {
        try await LocalSwarm.run(options(size: 1 << 20)) { swarm in
            // Fail the ranged GETs, not the probe (HEAD does not count).
            swarm.origin!.update {
                $0.failNextRequests = 100
                $0.failStatus = status
            }
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = try makeTemporaryDirectory() + "/p.bin"
            do throws(DownloadError) {
                _ = try await download(configuration)
                Issue.record("expected failure")
            } catch {
                #expect(error.exitCode == 4)
                #expect(error.description.contains("\(status)"))
            }
        }
    }

    @Test func restartOnChangeStartsOver() async throws {
        try await LocalSwarm.run(options(size: 4 << 20)) { swarm in
            let origin = swarm.origin!
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = try makeTemporaryDirectory() + "/c.bin"
            configuration.pieceSize = 256 << 10
            configuration.connections = 2
            configuration.restartOnChange = true
            let observer = RecordingObserver()
            // The file changes while the download is held half way through.
            let gate = origin.pause(atOffset: 2 << 20)
            let result = try await download(configuration, observer: observer, pausedAt: gate) {
                origin.update { $0.etag = "\"v2\"" }
            }
            #expect(try result.get().sha256 == origin.content.sha256())
            #expect(observer.notices.contains { $0.contains("starting over") })
        }
    }

    @Test func interruptedDownloadResumesAndFetchesLittleAgain() async throws {
        let size: Int64 = 8 << 20
        try await LocalSwarm.run(options(size: size)) { swarm in
            let path = try makeTemporaryDirectory() + "/resume.bin"
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = path
            configuration.pieceSize = 256 << 10
            configuration.connections = 2
            // Interrupt half way.
            await interruptDownload(configuration, at: swarm.origin!.pause(atOffset: size / 2))
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(FileManager.default.fileExists(atPath: path + ".part"))
            #expect(FileManager.default.fileExists(atPath: path + ".ddl"))
            let observer = RecordingObserver()
            let summary = try await download(configuration, observer: observer)
            #expect(summary.sha256 == swarm.origin!.content.sha256())
            #expect(observer.notices.contains { $0.contains("resuming") })
            #expect(swarm.origin!.bytesServed <= size * 5 / 4, "origin served \(swarm.origin!.bytesServed) bytes for a \(size)-byte file")
            #expect(!FileManager.default.fileExists(atPath: path + ".ddl"))
        }
    }

    /// A presigned URL that expired is signed anew and the download run again: it resumes,
    /// and the control file never held the signature.
    @Test func anInterruptedDownloadOfASignedURLResumesWithANewSignature() async throws {
        let size: Int64 = 4 << 20
        try await LocalSwarm.run(options(size: size)) { swarm in
            let path = try makeTemporaryDirectory() + "/signed.bin"
            var configuration = ClientConfiguration(url: swarm.originURL! + TestOrigin.presignedURL("signed.bin", signature: "sigOLD1111"))
            configuration.outputFile = path
            configuration.pieceSize = 256 << 10
            await interruptDownload(configuration, at: swarm.origin!.pause(atOffset: size / 2))
            let control = try String(contentsOfFile: path + ".ddl", encoding: .utf8)
            #expect(!control.contains("sigOLD1111") && !control.contains("X-Amz"), "the control file holds the signature: \(control)")
            configuration.url = swarm.originURL! + TestOrigin.presignedURL("signed.bin", signature: "sigNEW2222")
            let observer = RecordingObserver()
            let summary = try await download(configuration, observer: observer)
            #expect(summary.sha256 == swarm.origin!.content.sha256())
            #expect(observer.notices.contains { $0.contains("resuming") }, "\(observer.notices)")
            #expect(swarm.origin!.bytesServed <= size * 5 / 4, "origin served \(swarm.origin!.bytesServed) bytes for a \(size)-byte file")
        }
    }

    /// A presigned URL's signature is a credential: it is in no log line (at trace), no
    /// progress event, no summary and no error message of the client.
    @Test func aSignatureIsInNoLogLineEventOrMessageOfTheClient() async throws {
        try await LocalSwarm.run(options(size: 1 << 20)) { swarm in
            let lines = CapturedLogs()
            let logger = lines.traceLogger
            var signed = ClientConfiguration(url: swarm.originURL! + TestOrigin.presignedURL("signed.bin", signature: "sigSECRET42"))
            signed.outputFile = try makeTemporaryDirectory() + "/signed.bin"
            let configuration = signed
            let observer = RecordingObserver()
            let summary = try await withHTTPClient(Downloader.makeHTTPClient(configuration: configuration)) { client in
                try await Downloader(configuration: configuration, httpClient: client, logger: logger, observer: observer).run()
            }
            #expect(summary.sha256 == swarm.origin!.content.sha256())
            #expect(summary.url.hasSuffix("/presigned/signed.bin?x-id=GetObject&versionId=v1"), "\(summary.url)")
            // The origin refuses a missing file: the error names the URL, not its signature.
            var absent = configuration
            absent.url = swarm.originURL! + TestOrigin.presignedURL("missing.bin", signature: "sigSECRET42").replacingOccurrences(of: "/presigned/", with: "/files/nothing/")
            absent.outputFile = try makeTemporaryDirectory() + "/missing.bin"
            let missing = absent
            let failure = try await withHTTPClient(Downloader.makeHTTPClient(configuration: missing)) { client -> String in
                do {
                    _ = try await Downloader(configuration: missing, httpClient: client, logger: logger, observer: observer).run()
                    return "no error"
                } catch {
                    return String(describing: error)
                }
            }
            #expect(failure.contains("HTTP 404") && failure.contains("/files/nothing/missing.bin"), "\(failure)")
            let texts = lines.all + observer.all.map { "\($0)" } + [failure, configuration.description, "\(summary)"]
            let leaks = texts.filter { $0.contains("sigSECRET42") }
            #expect(leaks.isEmpty, "the signature is in \(leaks.count) of \(texts.count) texts, e.g. \(leaks.first ?? "")")
            #expect(lines.all.contains { $0.contains("probed origin") }, "the trace logs were captured")
        }
    }

    @Test func resumeIsRefusedWhenTheFileChangedAndNoResumeStartsFresh() async throws {
        let size: Int64 = 4 << 20
        try await LocalSwarm.run(options(size: size)) { swarm in
            let path = try makeTemporaryDirectory() + "/changed.bin"
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = path
            configuration.pieceSize = 256 << 10
            await interruptDownload(configuration, at: swarm.origin!.pause(atOffset: size / 3))
            swarm.origin!.update { $0.etag = "\"v2\"" }
            do throws(DownloadError) {
                _ = try await download(configuration)
                Issue.record("expected a refusal to resume")
            } catch {
                #expect(error.exitCode == 5)
                #expect(error.description.contains("--no-resume"))
            }
            configuration.resume = false
            let summary = try await download(configuration)
            #expect(summary.sha256 == swarm.origin!.content.sha256())
        }
    }

    @Test func checksumsAreVerified() async throws {
        try await LocalSwarm.run(options(size: 1 << 20 + 3)) { swarm in
            let directory = try makeTemporaryDirectory()
            var reference = ClientConfiguration(url: swarm.fileURL())
            reference.outputFile = directory + "/ref.bin"
            _ = try await download(reference)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/ref.bin"))
            let good = [
                "sha-256=" + swarm.origin!.content.sha256(),
                "sha-512=" + hex(SHA512Digest.of(bytes)),
                "md5=" + hex(MD5Digest.of(bytes)),
            ]
            for (index, text) in good.enumerated() {
                var configuration = ClientConfiguration(url: swarm.fileURL())
                configuration.outputFile = directory + "/ok\(index).bin"
                configuration.checksum = ExpectedChecksum(text)
                #expect(configuration.checksum != nil)
                _ = try await download(configuration)
            }
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = directory + "/bad.bin"
            configuration.checksum = ExpectedChecksum("sha-256=" + String(repeating: "0", count: 64))
            do throws(DownloadError) {
                _ = try await download(configuration)
                Issue.record("expected a checksum mismatch")
            } catch {
                #expect(error.exitCode == 5)
                #expect(error.description.contains("checksum mismatch"))
            }
            #expect(!FileManager.default.fileExists(atPath: directory + "/bad.bin"))
        }
    }

    /// `--no-sha256`: no digest in the summary, the same bytes on disk, and `--checksum` is
    /// still verified, in pieces (through a peer) and in one stream.
    @Test(arguments: [false, true])
    func withoutSHA256ChecksumsAreStillVerified(oneStream: Bool) async throws {
        try await LocalSwarm.run(options(size: 3 << 20 + 5, peers: ["127.0.0.1"])) { swarm in
            swarm.origin!.update { $0.noRange = oneStream }
            let directory = try makeTemporaryDirectory()
            let content = swarm.origin!.content
            func configuration(_ name: String, checksum: String?) -> ClientConfiguration {
                var configuration = ClientConfiguration(url: swarm.fileURL())
                configuration.trackerURLs = [swarm.trackerURL]
                configuration.token = swarm.token
                configuration.pieceSize = 256 << 10
                configuration.outputFile = directory + "/" + name
                configuration.computeSHA256 = false
                configuration.checksum = checksum.flatMap(ExpectedChecksum.init)
                return configuration
            }
            let plain = try await download(configuration("plain.bin", checksum: nil))
            #expect(plain.sha256 == nil)
            #expect(plain.mode == (oneStream ? "single" : "swarm"))
            #expect(try sha256(ofFile: directory + "/plain.bin") == content.sha256())
            let bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/plain.bin"))

            let checked = try await download(configuration("md5.bin", checksum: "md5=" + hex(MD5Digest.of(bytes))))
            #expect(checked.sha256 == nil)
            let viaSHA = try await download(configuration("sha.bin", checksum: "sha-256=" + content.sha256()))
            #expect(viaSHA.sha256 == content.sha256())  // computed anyway: it is the checksum
            do throws(DownloadError) {
                _ = try await download(configuration("bad.bin", checksum: "md5=" + String(repeating: "0", count: 32)))
                Issue.record("expected a checksum mismatch")
            } catch {
                #expect(error.exitCode == 5)
                #expect(error.description.contains("checksum mismatch"))
            }
            #expect(!FileManager.default.fileExists(atPath: directory + "/bad.bin"))
        }
    }

    @Test(arguments: [true, false])
    func lyingPeerIsCaughtBannedAndItsPiecesFetchedAgain(useSelf: Bool) async throws {
        // Two honest peers, so that without the origin (no self) a third opinion exists.
        try await LocalSwarm.run(options(size: 6 << 20, peers: ["127.0.0.1", "127.0.0.1"])) { swarm in
            try await withFaultyPeer(.flipBytes, swarm: swarm) { liar in
                var configuration = ClientConfiguration(url: swarm.fileURL())
                configuration.trackerURLs = [swarm.trackerURL]
                configuration.token = swarm.token
                configuration.outputFile = try makeTemporaryDirectory() + "/v.bin"
                configuration.pieceSize = 256 << 10
                configuration.useSelf = useSelf
                configuration.verifyPeersRate = 1
                let observer = RecordingObserver()
                let summary = try await download(configuration, observer: observer)
                #expect(summary.sha256 == swarm.origin!.content.sha256())
                #expect(summary.banned == [liar])
                #expect(observer.banned == [liar])
            }
        }
    }

    @Test func withoutSpotChecksALyingPeerCorruptsTheFile() async throws {
        // The control for the test above: the fault is real, and only verification catches it.
        try await LocalSwarm.run(options(size: 2 << 20, peers: [])) { swarm in
            try await withFaultyPeer(.flipBytes, swarm: swarm) { _ in
                var configuration = ClientConfiguration(url: swarm.fileURL())
                configuration.trackerURLs = [swarm.trackerURL]
                configuration.token = swarm.token
                configuration.outputFile = try makeTemporaryDirectory() + "/bad.bin"
                configuration.pieceSize = 256 << 10
                configuration.useSelf = false
                configuration.verifyPeersRate = 0
                let summary = try await download(configuration)
                #expect(summary.sha256 != swarm.origin!.content.sha256())
                #expect(summary.banned.isEmpty)
            }
        }
    }

    @Test func checksumSyntax() {
        #expect(ExpectedChecksum("sha-256=" + String(repeating: "a", count: 64))?.algorithm == .sha256)
        #expect(ExpectedChecksum("SHA256:" + String(repeating: "A", count: 64))?.hex == String(repeating: "a", count: 64))
        #expect(ExpectedChecksum("md5=" + String(repeating: "f", count: 32))?.algorithm == .md5)
        #expect(ExpectedChecksum("sha-256=abc") == nil)
        #expect(ExpectedChecksum("crc32=12345678") == nil)
        #expect(ExpectedChecksum("sha-256=" + String(repeating: "g", count: 64)) == nil)
    }
}

import Crypto

enum SHA512Digest { static func of(_ data: Data) -> SHA512.Digest { SHA512.hash(data: data) } }
enum MD5Digest { static func of(_ data: Data) -> Insecure.MD5.Digest { Insecure.MD5.hash(data: data) } }
func hex(_ digest: some Sequence<UInt8>) -> String { digest.map { String(format: "%02x", $0) }.joined() }

/// The part file is closed on every path, also when the first save of the control file fails.
@Suite struct PartFileLifetimeTests {
    /// Paths the process has open, from /proc/self/fd.
    static func openPaths() -> Set<String> {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return Set(entries.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) })
    }

    @Test func aFailingFirstControlFileSaveClosesThePartFile() async throws {
        try await LocalSwarm.run(FaultTests().options(size: 1 << 20)) { swarm in
            let directory = try makeTemporaryDirectory()
            let path = directory + "/closed.bin"
            // A directory where the control file's temporary file goes: the save fails.
            try FileManager.default.createDirectory(atPath: path + ".ddl.tmp", withIntermediateDirectories: false)
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.outputFile = path
            do throws(DownloadError) {
                _ = try await download(configuration)
                Issue.record("expected the control file save to fail")
            } catch {
                #expect(error.exitCode == 6, "\(error)")
            }
            #expect(FileManager.default.fileExists(atPath: path + ".part"))
            #expect(!Self.openPaths().contains(path + ".part"), "the .part file is still open")
        }
    }
}
