import DDLCore

extension Downloader {
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
    func localize(_ suspects: [Suspect], transfer: Transfer) async throws -> Localization {
        var generator = SystemRandomNumberGenerator()
        let window = PeerVerifier.window
        var cheap: [(Suspect, ByteRange)] = []
        for suspect in suspects {
            var planner = SpotCheckPlanner(rate: 1e-9, window: window)
            var windows = planner.windows(of: suspect.range, by: "", raced: true, using: &generator)
            windows += planner.windows(of: suspect.range, by: "", raced: true, using: &generator)
            cheap += Set(windows).map { (suspect, $0) }
        }
        var found = try await compare(cheap, transfer: transfer)
        if !found.badPieces.isEmpty || !found.unsettled.isEmpty { return found }
        let whole = suspects.flatMap { suspect in
            stride(from: suspect.range.first, through: suspect.range.last, by: Int(Self.repairRange)).map {
                (suspect, ByteRange(first: $0, last: min($0 + Self.repairRange - 1, suspect.range.last)))
            }
        }
        let more = try await compare(whole, transfer: transfer)
        found.badPieces = more.badPieces
        found.caught = more.caught
        found.unsettled = more.unsettled
        found.comparedBytes += more.comparedBytes
        return found
    }

    /// Compares each range with the origin, a few at a time.
    private func compare(_ ranges: [(Suspect, ByteRange)], transfer: Transfer) async throws -> Localization {
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
                    let verdict = try await transfer.verifier.check(
                        range: range, fallback: [], fetcher: transfer.fetcher, partFile: transfer.partFile, slow: &slow)
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
