/// The write ledger, for plans whose piece sizes are known: the scheduler decides which bytes
/// each copy of a piece may write, so that the invariants hold by construction instead of by
/// timing:
///
/// - every byte of a piece is written by exactly one copy: a copy asks before each chunk
///   (``reserveWrite(_:by:at:count:)``) and may write only the part past the piece's
///   *frontier*, the end of what other copies already wrote or are writing;
/// - a piece is complete once its frontier reached its end and no reserved write is still
///   running (``commitWrite(_:by:)``); after that no write touches it again;
/// - a ban re-queues every piece the banned source wrote into, whoever completed it, and a
///   reset piece goes back to the queue only once every copy that could still write into it
///   has reported back;
/// - a spot check and a saved control file name a piece together with its
///   ``PieceLedger/generation``, so a verdict or a save about bytes that a reset threw away
///   is recognised and dropped.
///
/// A re-queued piece that was partly written continues from its frontier, and so does an
/// endgame copy: only the bytes still missing are fetched.
extension PieceScheduler {
    /// One piece's writes.
    package struct PieceLedger: Sendable, Equatable {
        /// Bumped when the piece is reset by a ban.
        package var generation = 0
        /// Bytes from the piece's start that are written or reserved.
        package var frontier: Int64 = 0
        /// Reserved writes not yet committed.
        package var outstanding = 0
        /// Who wrote which bytes (piece-relative, half-open), in order.
        package var segments: [Segment] = []
        /// Spot checks of this generation still running.
        package var checks = 0
    }

    /// Bytes `start..<end` of a piece (relative to its start), written by `source`.
    package struct Segment: Sendable, Equatable {
        package var start: Int64
        package var end: Int64
        package var source: SourceID
        package init(start: Int64, end: Int64, source: SourceID) {
            self.start = start
            self.end = end
            self.source = source
        }
    }

    /// One copy of a piece at one source.
    package struct Copy: Sendable, Hashable {
        package var piece: Int
        package var source: SourceID
        package init(piece: Int, source: SourceID) {
            self.piece = piece
            self.source = source
        }
    }

    /// What a ban changed.
    package struct BanOutcome: Sendable, Equatable {
        /// Pieces back in the queue (or draining towards it).
        package var requeued: [Int]
        /// Copies to cancel.
        package var cancel: [Copy]
    }

    /// The answer to a copy that has `count` bytes at piece offset `at` to write.
    package enum WriteGrant: Sendable, Equatable {
        /// Write `count` bytes starting `skip` bytes into the chunk, then
        /// ``commitWrite(_:by:)``.
        case write(skip: Int64, count: Int64)
        /// Other copies wrote these bytes already; drop them and go on.
        case skip
        /// Stop: the piece is complete, was reset, or the source was banned. Report back with
        /// ``cancelled(_:by:)``.
        case stop
    }

    /// What a committed write changed.
    package struct CommitOutcome: Sendable, Equatable {
        /// The piece is now complete: who wrote it, in segments, at which generation.
        package var completed: (generation: Int, segments: [Segment])?
        /// Copies of the completed piece that lost and should be cancelled.
        package var cancel: [Copy]

        package static func == (a: Self, b: Self) -> Bool {
            a.cancel == b.cancel && a.completed?.generation == b.completed?.generation && a.completed?.segments == b.completed?.segments
        }
    }

    /// Whether every byte of `piece` is written or reserved: a complete piece, or one whose
    /// last writes are under way. Nothing is left for another copy to fetch.
    func isFullyReserved(_ piece: Int) -> Bool {
        states[piece] == .done || sizes.map { ledger[piece].frontier >= $0[piece] } ?? false
    }

    /// Where a copy of `piece` starts fetching: its frontier (bytes before it are written).
    package func frontier(of piece: Int) -> Int64 { ledger[piece].frontier }

    /// The ledger of `piece`.
    package func ledger(of piece: Int) -> PieceLedger { ledger[piece] }

    /// `source` holds `count` bytes at offset `at` of `piece` (relative to its start, streamed
    /// in order from where it started): which of them may it write?
    package mutating func reserveWrite(_ piece: Int, by id: SourceID, at offset: Int64, count: Int64) -> WriteGrant {
        precondition(sizes != nil, "the write ledger needs piece sizes")
        guard states[piece] == .active, holders[piece]?[id] != nil, sources[id]?.banned != true else { return .stop }
        let end = offset + count
        let frontier = ledger[piece].frontier
        // A copy starts at or before the frontier and the frontier only grows, so a copy is
        // never past it: everything before it is written, everything from it is free.
        precondition(offset <= frontier, "a copy of piece \(piece) got ahead of what was written")
        guard end > frontier else { return .skip }
        precondition(end <= sizes![piece], "a write past the end of piece \(piece)")
        ledger[piece].frontier = end
        ledger[piece].outstanding += 1
        writtenBytes += end - frontier
        if let last = ledger[piece].segments.last, last.source == id, last.end == frontier {
            ledger[piece].segments[ledger[piece].segments.count - 1].end = end
        } else {
            ledger[piece].segments.append(Segment(start: frontier, end: end, source: id))
        }
        return .write(skip: frontier - offset, count: end - frontier)
    }

    /// The write reserved by ``reserveWrite(_:by:at:count:)`` is on its way to disk (written to
    /// the file). When it was the last one the piece needed, the piece is complete.
    package mutating func commitWrite(_ piece: Int, by id: SourceID, now: Instant) -> CommitOutcome {
        ledger[piece].outstanding -= 1
        precondition(ledger[piece].outstanding >= 0)
        if states[piece] == .draining {
            finishDraining(piece)
            return CommitOutcome(completed: nil, cancel: [])
        }
        guard states[piece] == .active, ledger[piece].outstanding == 0, ledger[piece].frontier == sizes![piece] else {
            return CommitOutcome(completed: nil, cancel: [])
        }
        let losers = completed(piece, by: id, now: now)
        if states[piece] == .done && deliveredBy[piece] == id { finishing[piece] = id }
        return CommitOutcome(
            completed: (ledger[piece].generation, ledger[piece].segments),
            cancel: losers.map { Copy(piece: piece, source: $0) })
    }

    /// A reserved write failed (the file could not be written): the piece's bytes can no
    /// longer be trusted, so it starts over once its copies have reported back.
    package mutating func abortWrite(_ piece: Int, by id: SourceID) -> [Copy] {
        ledger[piece].outstanding -= 1
        return reset(piece)
    }

    /// Throws away what was written of `piece`: a new generation, back to the queue once no
    /// copy of the old bytes runs. Returns the copies to cancel.
    mutating func reset(_ piece: Int) -> [Copy] {
        if states[piece] == .done {
            doneCount -= 1
            if let by = deliveredBy.removeValue(forKey: piece), sources[by]?.completed ?? 0 > 0 { sources[by]?.completed -= 1 }
        }
        writtenBytes -= ledger[piece].frontier
        runningChecks -= ledger[piece].checks
        ledger[piece].generation += 1
        ledger[piece].frontier = 0
        ledger[piece].segments = []
        ledger[piece].checks = 0
        var running = Set((holders.removeValue(forKey: piece) ?? [:]).keys)
        if let completer = finishing.removeValue(forKey: piece) { running.insert(completer) }
        let copies = running.sorted()
        if !copies.isEmpty || states[piece] == .draining {
            stale[piece, default: []].formUnion(copies)
        }
        if states[piece] == .pending { pending.removeAll { $0 == piece } }
        states[piece] = .draining
        finishDraining(piece)
        return copies.map { Copy(piece: piece, source: $0) }
    }

    /// A draining piece goes back to the queue once no copy of its old bytes runs.
    mutating func finishDraining(_ piece: Int) {
        guard states[piece] == .draining, stale[piece]?.isEmpty ?? true, ledger[piece].outstanding == 0 else { return }
        stale[piece] = nil
        states[piece] = .pending
        pending.append(piece)
    }

    // MARK: Spot checks

    /// A spot check of `piece` (at `generation`) starts; until it ends the piece is not
    /// saved as complete and the download is not settled.
    package mutating func beginCheck(_ piece: Int, generation: Int) {
        guard ledger[piece].generation == generation else { return }
        ledger[piece].checks += 1
        runningChecks += 1
    }

    /// The check started by ``beginCheck(_:generation:)`` ended. Returns whether its verdict
    /// still concerns the piece's bytes (`false` when a reset threw them away meanwhile).
    @discardableResult
    package mutating func endCheck(_ piece: Int, generation: Int) -> Bool {
        guard ledger[piece].generation == generation else { return false }
        ledger[piece].checks -= 1
        runningChecks -= 1
        return true
    }

    /// Every piece is complete and no spot check is running that could still re-queue some.
    package var isSettled: Bool { isComplete && runningChecks == 0 }

    /// Complete pieces with no spot check running, with their generations: what a control
    /// file may record once the data is on disk.
    package var persistablePieces: [Int: Int] {
        var result: [Int: Int] = [:]
        for piece in states.indices where states[piece] == .done && ledger[piece].checks == 0 {
            result[piece] = ledger[piece].generation
        }
        return result
    }

    /// Of `snapshot` (from ``persistablePieces``), the pieces that are still complete at the
    /// same generation.
    package func stillPersistable(_ snapshot: [Int: Int]) -> Set<Int> {
        Set(snapshot.filter { piece, generation in states[piece] == .done && ledger[piece].generation == generation }.keys)
    }

    /// Whether `piece` was written (in whole or part) by `source` at `generation`.
    package func wrote(_ piece: Int, by source: SourceID, generation: Int) -> Bool {
        ledger[piece].generation == generation && ledger[piece].segments.contains { $0.source == source }
    }
}
