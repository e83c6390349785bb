import DDLCore

extension Downloader {
    /// Times the file is repaired after failing its end check before the download gives up.
    static let maxRepairs = 2

    /// What one pass of the workers over the file leaves.
    struct TransferResult: Sendable {
        let pieces: [String: Int]
        let banned: Set<String>
        let checks: [String: CheckOutcomes]
        let unverified: [UnverifiedRange]
        /// What an end check that fails may blame.
        let suspects: [Suspect]
        let digests: Digests
    }

    /// The passes of one download: the first over every missing piece, then one per repair.
    struct Round: Sendable {
        /// Pieces the next pass starts with.
        var completed: Set<Int>
        /// Sources of the next pass (without the banned ones).
        var sources: [DownloadSource]
        var repairs = 0
        /// Pieces fetched again by repairs.
        var repaired = 0
        var pieces: [String: Int] = [:]
        var banned: Set<String> = []
        var checks: [String: CheckOutcomes] = [:]
        var unverified: [UnverifiedRange] = []

        init(completed: Set<Int>, sources: [DownloadSource]) {
            self.completed = completed
            self.sources = sources
        }

        /// Adds what a pass left.
        mutating func add(_ result: TransferResult) {
            pieces.merge(result.pieces, uniquingKeysWith: +)
            banned.formUnion(result.banned)
            sources.removeAll { banned.contains($0.id) }
            for (source, outcome) in result.checks { checks[source, default: CheckOutcomes()].add(outcome) }
            unverified += result.unverified
        }
    }

    /// After the file failed its end check: finds the wrong bytes (``localize(_:verifier:fetcher:partFile:)``),
    /// bans the sources that wrote them, and sets `round` up to fetch only their pieces
    /// again. Returns `false` when there is nothing to repair: no byte came from an untrusted
    /// source, the origin's own bytes disagree with the digest, or the origin could not
    /// deliver what was to be compared; the download then fails with the mismatch.
    func repair(
        _ round: inout Round, expected: PublishedDigest, got: String, suspects: [Suspect], plan: PiecePlan, verifier: PeerVerifier,
        fetcher: PieceFetcher, partFile: PartFile, control: ControlFile
    ) async throws -> Bool {
        guard !suspects.isEmpty else { return false }
        round.repairs += 1
        observer.handle(.notice(
            "the file does not match \(expected.summary) (got \(got)): comparing the bytes that came from peers with the origin's"))
        let started = ContinuousClock.now
        let found = try await localize(suspects, verifier: verifier, fetcher: fetcher, partFile: partFile)
        logger.info("localized", metadata: [
            "bad": "\(found.badPieces.sorted())", "caught": "\(found.caught.sorted())", "unsettled": "\(found.unsettled.count)",
            "compared": "\(found.comparedBytes)", "seconds": "\((ContinuousClock.now - started).seconds)",
        ])
        guard found.unsettled.isEmpty else {
            observer.handle(.notice(
                "could not compare \(found.unsettled.count) range\(found.unsettled.count == 1 ? "" : "s") with the origin (\(found.unsettled[0])): no repair"))
            return false
        }
        guard !found.badPieces.isEmpty else {
            observer.handle(.notice(
                "every byte that came from peers matches the origin's (\(ByteSize.format(found.comparedBytes)) compared): the origin serves other bytes than \(expected.summary) says"))
            return false
        }
        var requeue = found.badPieces
        for source in found.caught.sorted() {
            let theirs = Set(suspects.filter { $0.source == source }.map(\.piece))
            requeue.formUnion(theirs)
            round.banned.insert(source)
            observer.handle(.peerBanned(
                source: source, reason: "after the file failed its end check, bytes it delivered differed from the origin's", refetched: theirs.count))
        }
        round.sources.removeAll { round.banned.contains($0.id) }
        round.unverified.removeAll { requeue.contains($0.piece) }
        round.completed = Set(0..<plan.count).subtracting(requeue)
        round.repaired += requeue.count
        try await control.save(completed: round.completed.subtracting(round.unverified.map(\.piece)))
        observer.handle(.notice(
            "repairing: fetching \(requeue.count) piece\(requeue.count == 1 ? "" : "s") again (\(ByteSize.format(found.comparedBytes)) compared with the origin)"))
        return true
    }

    /// Bytes an end check that failed may blame: a segment an untrusted source (`source`)
    /// wrote into `piece`, or a whole piece taken from an earlier run (`source` is `nil`: who
    /// wrote it is not known).
    struct Suspect: Sendable, Hashable {
        let piece: Int
        let range: ByteRange
        let source: String?
    }

    /// What comparing the suspects with the origin found.
    struct Localization: Sendable {
        /// Pieces holding bytes the origin disagrees with.
        var badPieces: Set<Int> = []
        /// Sources that wrote such bytes.
        var caught: Set<String> = []
        /// Ranges the origin could not deliver: nothing can be said about them.
        var unsettled: [UnverifiedRange] = []
        /// Bytes compared with the origin.
        var comparedBytes: Int64 = 0
    }

    /// Largest range compared in one request when whole segments are compared.
    static let repairRange: Int64 = 4 << 20

    /// Finds which bytes are wrong after the file failed its end check, cheaply first: a few
    /// windows of each suspect (its head, its tail, two at random) against the origin; when
    /// none disagrees, every byte of the suspects, in ranges of at most ``repairRange``.
    /// Only the origin decides (a vote among peers proves nothing here).
    func localize(_ suspects: [Suspect], verifier: PeerVerifier, fetcher: PieceFetcher, partFile: PartFile) async throws -> Localization {
        let window = PeerVerifier.window
        let cheap = suspects.flatMap { suspect in
            let range = suspect.range
            let starts = [range.first, range.last - window + 1] + (0..<2).map { _ in Int64.random(in: range.first...range.last) }
            return Set(starts.map { range.window(of: window, at: $0) }).map { (suspect, $0) }
        }
        var found = try await compare(cheap, verifier: verifier, fetcher: fetcher, partFile: partFile)
        if !found.badPieces.isEmpty || !found.unsettled.isEmpty { return found }
        let whole = suspects.flatMap { suspect in suspect.range.slices(of: Self.repairRange).map { (suspect, $0) } }
        let more = try await compare(whole, verifier: verifier, fetcher: fetcher, partFile: partFile)
        found.badPieces = more.badPieces
        found.caught = more.caught
        found.unsettled = more.unsettled
        found.comparedBytes += more.comparedBytes
        return found
    }

    /// Compares each range with the origin, a few at a time.
    private func compare(
        _ ranges: [(Suspect, ByteRange)], verifier: PeerVerifier, fetcher: PieceFetcher, partFile: PartFile
    ) async throws -> Localization {
        try await withThrowingTaskGroup(of: (Suspect, ByteRange, PeerVerifier.Verdict).self) { group in
            var found = Localization()
            var pending = ranges[...]
            func collect(_ suspect: Suspect, _ range: ByteRange, _ verdict: PeerVerifier.Verdict) {
                found.comparedBytes += range.count
                switch verdict {
                case .match, .refereeLied:
                    break
                case .mismatch:
                    found.badPieces.insert(suspect.piece)
                    if let source = suspect.source { found.caught.insert(source) }
                case let .inconclusive(why):
                    found.unsettled.append(UnverifiedRange(
                        source: suspect.source ?? "an earlier run", piece: suspect.piece, first: range.first, last: range.last,
                        reason: why.description))
                }
            }
            func add() -> Bool {
                guard let (suspect, range) = pending.popFirst() else { return false }
                group.addTask {
                    var slow: [DownloadSource] = []
                    let verdict = try await verifier.check(range: range, fallback: [], fetcher: fetcher, partFile: partFile, slow: &slow)
                    return (suspect, range, verdict)
                }
                return true
            }
            for _ in 0..<Self.concurrentSpotChecks where add() {}
            while let (suspect, range, verdict) = try await group.next() {
                collect(suspect, range, verdict)
                _ = add()
            }
            return found
        }
    }
}
