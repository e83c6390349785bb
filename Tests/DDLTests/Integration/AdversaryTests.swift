import DDLApp
import DDLClient
import DDLCore
import DDLTestOrigin
import DDLTrackerClient
import Foundation
import Synchronization
import Testing

/// Attacks on the download engine by sources that lie cleverly: only in some bytes, only in
/// some answers (an endgame copy's, a referee's), or before dying. Whatever they do, a
/// download with `--verify-peers 1` ends byte-exact or fails, and no honest source is banned.
@Suite struct AdversaryTests {
    /// The ranges a scripted peer was asked for.
    final class RequestLog: Sendable {
        private let ranges = Mutex<[ByteRange]>([])
        func record(_ range: ByteRange) { ranges.withLock { $0.append(range) } }
        var all: [ByteRange] { ranges.withLock { $0 } }
    }

    func options(size: Int64, peers: Int) -> LocalSwarm.Options {
        var options = LocalSwarm.Options()
        options.originSize = size
        options.peerHosts = Array(repeating: "127.0.0.1", count: peers)
        return options
    }

    func configuration(_ swarm: LocalSwarm, pieceSize: Int64, useSelf: Bool, rate: Double = 1) throws -> ClientConfiguration {
        var configuration = ClientConfiguration(url: swarm.fileURL())
        configuration.trackerURLs = [swarm.trackerURL]
        configuration.token = swarm.token
        configuration.outputFile = try makeTemporaryDirectory() + "/a.bin"
        configuration.pieceSize = pieceSize
        configuration.useSelf = useSelf
        configuration.verifyPeersRate = rate
        return configuration
    }

    /// Registers one misbehaving peer per entry of `faults` with the swarm's tracker while
    /// `body` runs, and passes their source ids.
    func withFaultyPeers(_ faults: [FaultyPeer.Fault], swarm: LocalSwarm, _ body: @Sendable @escaping ([String]) async throws -> Void) async throws {
        let ports = faults.map { _ in Eventually<Int>() }
        let services = zip(faults, ports).map { fault, port in
            FaultyPeer(content: swarm.origin!.content, fault: fault).makeApplication { await port.set($0) }
        }
        try await withServices(services) {
            let ids = try await withHTTPClient { client in
                var ids: [String] = []
                for port in ports {
                    let port = try await port.wait()
                    _ = try await TrackerClient(baseURL: swarm.trackerURL, httpClient: client, token: swarm.token)
                        .register(.init(port: port, host: "127.0.0.1", name: "faulty-\(port)"))
                    ids.append("peer 127.0.0.1:\(port)")
                }
                return ids
            }
            try await body(ids)
        }
    }

    /// Checks the file on disk and the summary's digest against the origin's content.
    func expectExact(_ summary: DownloadSummary, _ configuration: ClientConfiguration, _ swarm: LocalSwarm, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = swarm.origin!.content.sha256()
        #expect(try sha256(ofFile: configuration.outputFile!) == expected, "the file on disk is wrong", sourceLocation: sourceLocation)
        #expect(summary.sha256 == expected, "the summary's SHA-256 is wrong", sourceLocation: sourceLocation)
    }

    // MARK: Lies in part of an answer

    /// A peer whose answers are right except their last 4 KiB.
    @Test(arguments: [true, false])
    func aPeerLyingOnlyInTheTailOfEachAnswerIsCaught(useSelf: Bool) async throws {
        try await LocalSwarm.run(options(size: 3 << 20, peers: 2)) { swarm in
            // Honest sources take a while per piece, so the (instant) liar gets work.
            swarm.origin!.update { $0.bytesPerSecond = 8 << 20 }
            let tail: FaultyPeer.Fault = .scripted { range in FaultyPeer.Answer(corrupt: max(0, range.count - 4096)..<range.count) }
            try await withFaultyPeers([tail], swarm: swarm) { ids in
                let liar = ids[0]
                let configuration = try configuration(swarm, pieceSize: 128 << 10, useSelf: useSelf)
                let summary = try await download(configuration)
                try expectExact(summary, configuration, swarm)
                let sent = summary.sources.first { $0.source == liar }?.bytes ?? 0
                #expect(summary.banned == [liar] || (summary.banned.isEmpty && sent == 0), "banned \(summary.banned), the liar sent \(sent) bytes")
            }
        }
    }

    /// A peer that answers honestly when asked for a piece from its start, and lies when
    /// asked from inside a piece: as a copy that goes on where an earlier one stopped (a
    /// piece re-queued after a failure, or an endgame copy), which starts at the piece's
    /// frontier. To make it happen every time, the origin holds every answer before its
    /// first byte while a flaky honest peer dies 100 000 bytes into its first three pieces:
    /// the liar, the only other source making progress, goes on from there.
    @Test(arguments: [true, false])
    func aPeerLyingOnlyWhenAskedFromInsideAPieceIsCaught(useSelf: Bool) async throws {
        let pieceSize: Int64 = 256 << 10
        // Many more pieces than workers: the pieces the flaky peer fails go back to the front
        // of a queue the liar is still taking pieces from.
        try await LocalSwarm.run(options(size: 8 << 20, peers: useSelf ? 0 : 2)) { swarm in
            let origin = swarm.origin!
            let flakyRequests = RequestLog()
            let flaky: FaultyPeer.Fault = .scripted { range in
                flakyRequests.record(range)
                return flakyRequests.all.count <= 3 ? FaultyPeer.Answer(dieAfter: 100_000) : .honest
            }
            let lies = RequestLog()
            let liar: FaultyPeer.Fault = .scripted { range in
                guard range.first % pieceSize != 0 else { return .honest }
                lies.record(range)
                return .lie()
            }
            try await withFaultyPeers([flaky, liar], swarm: swarm) { ids in
                let configuration = try configuration(swarm, pieceSize: pieceSize, useSelf: useSelf)
                let gate = origin.pause(atOffset: 0)
                let result = try await download(configuration, pausedAt: gate) {
                    let lied = try await eventually(within: 30) { !lies.all.isEmpty }
                    // The premise, not the property under test: in about 1 full-suite run of 20
                    // on a loaded 2-core machine the liar was never asked from inside a piece
                    // (then the download is still checked to be exact below).
                    withKnownIssue("the liar is not always asked from inside a piece", isIntermittent: true) {
                        #expect(lied, "the liar was never asked from inside a piece")
                    }
                }
                let summary = try result.get()
                try expectExact(summary, configuration, swarm)
                // Its lie may lose the race for those bytes to another copy (then nothing of
                // it is in the file); when it landed, the liar is banned and no one else is.
                #expect(summary.banned.isEmpty || summary.banned == [ids[1]], "banned \(summary.banned)")
            }
        }
    }

    /// A peer that sends garbage for the first 100 000 bytes of every answer, then closes the
    /// connection: its partial bytes stay in the piece and another source goes on from where
    /// it stopped. The spot checks of the completed piece catch it, and its ban re-fetches
    /// the pieces it only partly wrote.
    @Test(arguments: [true, false])
    func aPeerSendingGarbageAndDyingIsCaughtAndItsPartialPiecesAreFetchedAgain(useSelf: Bool) async throws {
        try await LocalSwarm.run(options(size: 3 << 20, peers: 2)) { swarm in
            let dier: FaultyPeer.Fault = .scripted { _ in FaultyPeer.Answer(corrupt: 0..<100_000, dieAfter: 100_000) }
            try await withFaultyPeers([dier], swarm: swarm) { ids in
                let liar = ids[0]
                let configuration = try configuration(swarm, pieceSize: 256 << 10, useSelf: useSelf)
                let observer = RecordingObserver()
                let summary = try await download(configuration, observer: observer)
                try expectExact(summary, configuration, swarm)
                #expect(observer.failedSources.contains(liar))
                #expect(summary.banned == [liar])
                #expect(summary.sources.first { $0.source == liar }?.pieces ?? 0 == 0)
            }
        }
    }

    // MARK: Lies as a referee

    /// A peer that serves its own pieces honestly and lies only when asked for a spot-check
    /// window (a range that does not end where a piece ends): without the origin, the other
    /// peers referee each other. The tiebreaker sides with the bytes on disk, so the liar is
    /// banned and the honest peers are not.
    @Test func aPeerLyingOnlyAsARefereeIsBannedAndNoHonestPeerIs() async throws {
        let pieceSize: Int64 = 1 << 20
        let size: Int64 = 12 << 20
        try await LocalSwarm.run(options(size: size, peers: 2)) { swarm in
            let lies = RequestLog()
            let refereeLiar: FaultyPeer.Fault = .scripted { range in
                guard (range.last + 1) % pieceSize != 0 && range.last != size - 1 else { return .honest }
                lies.record(range)
                return .lie()
            }
            try await withFaultyPeers([refereeLiar], swarm: swarm) { ids in
                let liar = ids[0]
                let configuration = try configuration(swarm, pieceSize: pieceSize, useSelf: false, rate: 0.5)
                let summary = try await download(configuration)
                try expectExact(summary, configuration, swarm)
                // Never an honest peer; the liar once it lied as a referee.
                #expect(summary.banned.allSatisfy { $0 == liar }, "banned \(summary.banned)")
                #expect(summary.banned == [liar] || lies.all.isEmpty, "banned \(summary.banned) after \(lies.all.count) lies")
            }
        }
    }
}

extension AdversaryTests {
    // MARK: Checks that cannot be made

    /// The origin is up but refuses this machine's requests (a rate limit: `429`), while a
    /// lying peer serves every piece. With `--verify-peers 1` every byte of the peer is to be
    /// checked against the origin, and none can be: the download must not end with exit 0.
    @Test(.timeLimit(.minutes(1)))
    func aLiarIsNotTrustedWhenTheOriginCannotRefereeItsBytes() async throws {
        try await LocalSwarm.run(options(size: 1 << 20, peers: 0)) { swarm in
            swarm.origin!.update {
                $0.failNextRequests = 1_000_000
                $0.failStatus = 429
            }
            try await withFaultyPeers([.garbage], swarm: swarm) { ids in
                var configuration = try configuration(swarm, pieceSize: 256 << 10, useSelf: true)
                configuration.readTimeoutSeconds = 2
                let result: Result<DownloadSummary, DownloadError>
                do throws(DownloadError) { result = .success(try await download(configuration)) } catch { result = .failure(error) }
                if case let .success(summary) = result {
                    try expectExact(summary, configuration, swarm)
                    Issue.record("exit 0 with the liar's unchecked bytes: banned \(summary.banned), sources \(summary.sources)")
                }
            }
        }
    }
}

extension AdversaryTests {
    /// A peer that serves its own pieces at full speed but, asked for a spot-check window
    /// (a range that does not end where a piece ends), sends one byte every 100 ms: never
    /// idle long enough for the read timeout, and 256 KiB would take 7 hours. The origin
    /// refuses every range this machine asks for (a rate limit: `429`), so the two peers
    /// referee each other, and the trickler is the only referee of the honest peer's windows.
    ///
    /// Each of its answers must end at the spot-check deadline (set to 3 s here; the trickle
    /// cannot finish first, so nothing races the clock), as an unsettled window, and once it
    /// missed the deadline it must not be asked again: at most once per check running at that
    /// moment, however many windows are left. With the honest peer's windows unsettled, the
    /// download fails with exit 5 and leaves the final name free, unless a publisher's digest
    /// vouches for the file (here given as with `--checksum sha-256=…`): then it ends byte-exact.
    /// The time limit only stops a hang (without a deadline the check waits for the trickle,
    /// 7 hours); it is no bound on the download's time, which a loaded machine stretches.
    @Test(.timeLimit(.minutes(3)), arguments: [false, true])
    func aRefereeThatTricklesDoesNotHoldTheDownloadForever(digestGiven: Bool) async throws {
        let pieceSize: Int64 = 1 << 20
        let size: Int64 = 12 << 20
        let isWindow: @Sendable (ByteRange) -> Bool = { range in (range.last + 1) % pieceSize != 0 && range.last != size - 1 }
        try await LocalSwarm.run(options(size: size, peers: 0)) { swarm in
            let origin = swarm.origin!
            // Every GET for the file's bytes is refused at once, and Retry-After says to ask
            // again at once; only this machine sends any (both peers serve the content
            // themselves). The probe (a HEAD) is answered.
            origin.update {
                $0.failNextRequests = 1_000_000
                $0.failStatus = 429
                $0.retryAfter = 0
            }
            let honestAsked = Eventually<Void>()
            let honest: FaultyPeer.Fault = .scripted { range in
                if !isWindow(range) { await honestAsked.set(()) }
                return .honest
            }
            let trickled = RequestLog()
            let trickler: FaultyPeer.Fault = .scripted { range in
                guard isWindow(range) else {
                    // Its pieces wait until the honest peer was asked for one, so that the
                    // honest peer delivers bytes (which only the trickler can referee).
                    _ = try? await honestAsked.wait()
                    return .honest
                }
                trickled.record(range)
                return FaultyPeer.Answer(trickle: true)
            }
            try await withFaultyPeers([honest, trickler], swarm: swarm) { ids in
                let (honestID, tricklerID) = (ids[0], ids[1])
                var configuration = try configuration(swarm, pieceSize: pieceSize, useSelf: false, rate: 0.5)
                configuration.spotCheckDeadline = .seconds(3)
                // The whole sample, also when the digest is known (as an explicit --verify-peers).
                configuration.shrinkSampleWithDigest = false
                if digestGiven { configuration.checksum = ExpectedChecksum("sha-256=" + origin.content.sha256()) }
                let observer = RecordingObserver()
                let result: Result<DownloadSummary, DownloadError>
                do throws(DownloadError) { result = .success(try await download(configuration, observer: observer)) } catch { result = .failure(error) }

                let reports = observer.spotChecks
                // The premises: the origin refereed nothing, and the trickler was asked.
                #expect(reports.allSatisfy { $0.referee == nil || ids.contains($0.referee!) }, "refereed by \(Set(reports.compactMap(\.referee)))")
                #expect(!trickled.all.isEmpty, "the trickler was never asked to referee")
                // Every trickled answer ended at the deadline, as an unsettled window of the honest peer's.
                let timedOut = reports.filter {
                    $0.source == honestID && $0.outcome == .inconclusive && $0.reason?.contains("nor could \(tricklerID) in time") == true
                }
                #expect(timedOut.count == trickled.all.count, "\(trickled.all.count) windows trickled, \(timedOut.count) ended at the deadline")
                // Not asked again once it missed the deadline: at most the checks that were
                // running then (Downloader.concurrentSpotChecks, 4).
                #expect(trickled.all.count <= 4, "asked to referee \(trickled.all.count) windows: \(trickled.all)")
                #expect(observer.banned.isEmpty, "banned \(observer.banned)")
                switch (digestGiven, result) {
                case let (true, .success(summary)):
                    try expectExact(summary, configuration, swarm)
                    #expect(summary.integrity == .verified(algorithm: "sha-256", source: "--checksum"), "\(summary.integrity)")
                    #expect(observer.notices.contains { $0.contains("could not be settled, but the file matches") }, "\(observer.notices)")
                case let (false, .failure(error)):
                    #expect(error.exitCode == 5, "\(error)")
                    #expect(error.description.contains("could not be checked against the origin"), "\(error)")
                    #expect(!FileManager.default.fileExists(atPath: configuration.outputFile!), "the unchecked file has the final name")
                default:
                    Issue.record("digest given: \(digestGiven), result: \(result)")
                }
            }
        }
    }

    /// A peer that answers every request with "the origin's signed URL expired" (a `502`
    /// whose problem names the origin's `403`). Each claim sends the download to resolve the
    /// user's URL again; the claims must not end the download.
    @Test
    func aPeerClaimingEverySignedURLExpiredDoesNotEndTheDownload() async throws {
        try await LocalSwarm.run(options(size: 8 << 20, peers: 0)) { swarm in
            // The honest download takes a while (about 4 s).
            swarm.origin!.update { $0.bytesPerSecond = 1 << 20 }
            let claimer: FaultyPeer.Fault = .scripted { _ in FaultyPeer.Answer(problem: (502, 403)) }
            try await withFaultyPeers([claimer], swarm: swarm) { ids in
                var configuration = try configuration(swarm, pieceSize: 256 << 10, useSelf: true)
                configuration.url = swarm.originURL! + "/signed/a.bin"
                let summary = try await download(configuration)
                try expectExact(summary, configuration, swarm)
                #expect(summary.sources.first { $0.source == ids[0] }?.pieces ?? 0 == 0)
            }
        }
    }
}

extension AdversaryTests {
    // MARK: Mirrors

    /// A mirror with the origin's length and `ETag` that serves the right bytes for the
    /// first MiB and wrong ones after it.
    @Test func aMirrorLyingOnlyAfterItsFirstMiBIsCaught() async throws {
        let size: Int64 = 4 << 20
        let origin = TestOrigin(length: size)
        let liar = TestOrigin(length: size)
        liar.update { $0.corruptFrom = 1 << 20 }
        origin.update { $0.bytesPerSecond = 4 << 20 }
        try await MirrorTests().withOrigins([origin, liar]) { urls in
            var configuration = try MirrorTests().configuration(urls, "m.bin")
            configuration.verifyPeersRate = 1
            let summary = try await download(configuration)
            #expect(try sha256(ofFile: configuration.outputFile!) == origin.content.sha256())
            #expect(summary.sha256 == origin.content.sha256())
            #expect(summary.banned.count == 1 && summary.banned.allSatisfy { $0.hasPrefix("mirror ") }, "banned \(summary.banned)")
        }
    }

    /// A mirror whose file becomes another version (new `ETag`, other bytes) while the
    /// download runs: its answers to `If-Range` are whole `200`s from then on, it is dropped,
    /// and the file is the origin's.
    @Test func aMirrorWhoseFileChangesMidDownloadIsDropped() async throws {
        let size: Int64 = 4 << 20
        let origin = TestOrigin(length: size)
        let mirror = TestOrigin(length: size)
        origin.update { $0.bytesPerSecond = 4 << 20 }
        try await MirrorTests().withOrigins([origin, mirror]) { urls in
            let configuration = try MirrorTests().configuration(urls, "c.bin")
            let observer = RecordingObserver()
            let gate = mirror.pause(atOffset: 1 << 20)
            let result = try await download(configuration, observer: observer, pausedAt: gate) {
                mirror.update {
                    $0.etag = "\"v2\""
                    $0.corruptFrom = 0
                }
            }
            let summary = try result.get()
            #expect(try sha256(ofFile: configuration.outputFile!) == origin.content.sha256())
            #expect(summary.sha256 == origin.content.sha256())
            #expect(summary.banned.isEmpty)
            #expect(observer.failedSources.contains { $0.hasPrefix("mirror ") })
        }
    }
}

extension AdversaryTests {
    /// Two peers that send one byte every 100 ms (never idle long enough for the read
    /// timeout). This machine overtakes a trickling copy in the endgame, unless both copies
    /// a piece may have are the two tricklers'.
    @Test(.timeLimit(.minutes(1)))
    func twoTricklingPeersDoNotHoldAPieceForever() async throws {
        try await LocalSwarm.run(options(size: 2 << 20, peers: 0)) { swarm in
            // This machine takes half a second a piece: the tricklers are idle in time to
            // copy each other's pieces.
            swarm.origin!.update { $0.bytesPerSecond = 512 << 10 }
            try await withFaultyPeers([.trickle, .trickle], swarm: swarm) { _ in
                // The read timeout plays no part (a trickler is never idle for it); a short one
                // only made this machine's own requests fail on a loaded machine (CI, once).
                let configuration = try configuration(swarm, pieceSize: 256 << 10, useSelf: true, rate: 0)
                let summary = try await download(configuration)
                try expectExact(summary, configuration, swarm)
            }
        }
    }
}

extension AdversaryTests {
    // MARK: Attacks on the fixes of ADV-2 and ADV-5

    /// ADV-5 with a fast source that has not completed a piece yet: the origin fails this
    /// machine's first requests, so two trickling peers hold both copies of the only piece by
    /// the time it may copy it; without a rate of its own it takes the endgame path that still
    /// counts every copy, however hopeless, towards the two.
    @Test(.timeLimit(.minutes(1)))
    func twoTricklersCannotHoldAPieceFromASourceWithoutARateYet() async throws {
        try await LocalSwarm.run(options(size: 256 << 10, peers: 0)) { swarm in
            swarm.origin!.update {
                $0.failNextRequests = 3
                $0.failStatus = 503
            }
            try await withFaultyPeers([.trickle, .trickle], swarm: swarm) { _ in
                // The read timeout plays no part (a trickler is never idle for it); a short one
                // only made this machine's own requests fail on a loaded machine (CI, once).
                let configuration = try configuration(swarm, pieceSize: 256 << 10, useSelf: true, rate: 0)
                let summary = try await download(configuration)
                try expectExact(summary, configuration, swarm)
            }
        }
    }

    /// The deadline of a spot check is the same for any range, but at `--verify-peers 1` a
    /// check's range is everything a source wrote into a piece (a whole piece, 4 to 16 MiB by
    /// default), not a 256 KiB window: over a slow origin every such check times out, is
    /// inconclusive, and a liar's pieces pass unchecked.
    @Test func aSlowOriginStillRefereesEveryByteAtRateOne() async throws {
        try await LocalSwarm.run(options(size: 4 << 20, peers: 0)) { swarm in
            // A 1 MiB piece takes 4 s from the origin; 256 KiB takes 1 s; the deadline is 3 s.
            swarm.origin!.update { $0.bytesPerSecond = 256 << 10 }
            try await withFaultyPeers([.garbage], swarm: swarm) { ids in
                var configuration = try configuration(swarm, pieceSize: 1 << 20, useSelf: true)
                configuration.connectTimeoutSeconds = 1
                configuration.readTimeoutSeconds = 2
                let result: Result<DownloadSummary, DownloadError>
                do throws(DownloadError) { result = .success(try await download(configuration)) } catch { result = .failure(error) }
                let summary = try result.get()
                try expectExact(summary, configuration, swarm)
                #expect(summary.banned == ids)
            }
        }
    }
}

extension AdversaryTests {
    // MARK: Attacks on the fix of ADV-8

    /// The origin refuses every spot-check window this machine asks for (`429`), so two
    /// honest peers referee a liar, a vote. Each honest peer fails the first window it is
    /// asked to referee (its own link hiccups once: `503`). A referee that could not deliver
    /// a window must not lose its vote for the rest of the download: the liar is still
    /// caught, and the file is exact. (Since the fix of ADV-8 one miss excludes a referee for
    /// good; with both honest peers excluded the liar's pieces had no referee.)
    @Test
    func honestRefereesThatFailOnceStillCatchALiar() async throws {
        let pieceSize: Int64 = 1 << 20
        // Six pieces for six slots (two per peer): every peer is asked for two at once.
        let size: Int64 = 6 << 20
        let isWindow: @Sendable (ByteRange) -> Bool = { range in (range.last + 1) % pieceSize != 0 && range.last != size - 1 }
        try await LocalSwarm.run(options(size: size, peers: 0)) { swarm in
            swarm.origin!.update { $0.refuseRange = { isWindow($0) ? 429 : nil } }
            // The honest peers serve pieces only once the liar was asked for one, so that it
            // delivers some.
            let liarAsked = Eventually<Void>()
            func hiccupsOnce() -> FaultyPeer.Fault {
                let windows = RequestLog()
                return .scripted { range in
                    guard isWindow(range) else {
                        _ = try? await liarAsked.wait()
                        return .honest
                    }
                    windows.record(range)
                    return windows.all.count == 1 ? FaultyPeer.Answer(problem: (503, 503)) : .honest
                }
            }
            // The liar lies in the pieces it serves, and answers spot-check windows honestly
            // (so it is never caught as a referee).
            let liar: FaultyPeer.Fault = .scripted { range in
                if isWindow(range) { return .honest }
                await liarAsked.set(())
                return .lie()
            }
            try await withFaultyPeers([hiccupsOnce(), hiccupsOnce(), liar], swarm: swarm) { ids in
                let configuration = try configuration(swarm, pieceSize: pieceSize, useSelf: false)
                let observer = RecordingObserver()
                let result: Result<DownloadSummary, DownloadError>
                do throws(DownloadError) { result = .success(try await download(configuration, observer: observer)) } catch { result = .failure(error) }
                let summary = try result.get()
                try expectExact(summary, configuration, swarm)
                #expect(summary.banned == [ids[2]], "\(summary.sources) \(observer.all.filter { if case .progress = $0 { false } else { true } })")
                // Every verdict came from the peers: the origin refused each window.
                let liarChecks = summary.sources.first { $0.source == ids[2] }?.checks
                #expect((liarChecks?.caught ?? 0) >= 1, "\(summary.sources)")
            }
        }
    }
}

extension AdversaryTests {
    // MARK: Liars that work together

    /// Two peers that serve the same wrong bytes (a scripted liar's wrong byte is the right
    /// one XOR 0x5A, the same in every answer) and one honest peer, with `--no-self` and the
    /// defaults. A vote among peers would let the two liars confirm each other; the origin
    /// referees every check instead, so both are caught and the file is exact.
    @Test func twoLiarsThatAgreeCannotOutvoteTheOrigin() async throws {
        try await LocalSwarm.run(options(size: 6 << 20, peers: 1)) { swarm in
            // The honest peer takes a while per piece, so that the (instant) liars get work.
            swarm.origin!.update { $0.bytesPerSecond = 8 << 20 }
            let liar: FaultyPeer.Fault = .scripted { _ in .lie() }
            try await withFaultyPeers([liar, liar], swarm: swarm) { ids in
                var configuration = try configuration(swarm, pieceSize: 512 << 10, useSelf: false)
                configuration.verifyPeersRate = ClientConfiguration(url: configuration.url).verifyPeersRate
                let summary = try await download(configuration)
                try expectExact(summary, configuration, swarm)
                for id in ids {
                    let checks = summary.sources.first { $0.source == id }?.checks
                    #expect(checks == nil || summary.banned.contains(id), "\(id): \(summary.sources)")
                }
                #expect(Set(summary.banned).isSubset(of: Set(ids)), "banned \(summary.banned)")
                #expect(!summary.banned.isEmpty, "neither liar wrote a byte: \(summary.sources)")
            }
        }
    }
}
