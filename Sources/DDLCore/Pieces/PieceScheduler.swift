/// The piece scheduler: a pure state machine (no I/O, no clock of its own) that hands pieces
/// to download sources from a dynamic work queue.
///
/// - Every source keeps up to `maxInFlight` pieces in flight and asks for the next one when one
///   finishes, so fast sources do more of the work.
/// - A failed piece goes back to the front of the queue for any source; the source that failed
///   is benched with exponential backoff and dropped after `maxConsecutiveFailures`.
/// - Endgame: when the queue is empty, an idle source duplicates the in-flight piece that has
///   been running longest; the first copy to complete wins and the others are reported for
///   cancellation.
/// - When piece sizes are known (``init(pieceSizes:completed:policy:)``), the scheduler learns
///   each source's rate and plans by time instead (see `PieceScheduler+Rates.swift`): a new
///   source starts with a small piece, a source too slow to finish a big piece before the
///   swarm drains the queue gets the small ones, and the endgame copies a piece when an idle
///   source would finish it clearly sooner than its holder.
///
/// - With sizes known, it also owns who may write which bytes (see
///   `PieceScheduler+Writes.swift`): every byte of a piece is written by exactly one copy,
///   a piece is complete only once all its bytes are written, nothing writes into a complete
///   piece, and a ban re-queues every piece the banned source wrote into, whoever completed it.
///
/// Time is passed in as `now` so that tests can drive it.
package struct PieceScheduler: Sendable {
    /// Identifies a source (the client itself or a peer).
    package typealias SourceID = String
    package typealias Instant = ContinuousClock.Instant

    /// What a source should do next.
    package enum Assignment: Equatable, Sendable {
        /// Fetch this piece. `duplicate` is true for an endgame copy of an in-flight piece.
        case piece(Int, duplicate: Bool)
        /// Nothing to do now; ask again later (at the earliest at `until`, when given).
        case wait(until: Instant?)
        /// This source is done: the download is complete, or the source was dropped.
        case stop
    }

    /// Scheduling knobs.
    package struct Policy: Sendable, Hashable {
        /// Failures in a row after which a source is dropped from this download.
        package var maxConsecutiveFailures: Int = 4
        /// Bench time after the first failure; doubles with each further failure.
        package var initialBackoff: Duration = .milliseconds(250)
        /// Upper bound on the bench time.
        package var maximumBackoff: Duration = .seconds(8)
        /// Whether idle sources duplicate in-flight pieces when the queue is empty.
        package var endgame: Bool = true
        /// Most copies of one piece in flight during the endgame (not counting hopeless ones:
        /// see ``endgameHopelessFactor``).
        package var maxCopies: Int = 2
        /// A copy that has run this many times longer than an idle source would need for the
        /// whole piece (without a rate: than the straggler age) is hopeless (stalled,
        /// trickling) and no longer counts towards ``maxCopies``.
        package var endgameHopelessFactor: Double = 4
        /// A piece is duplicated only once it has run this many times the average piece
        /// duration (so that only stragglers are copied, not pieces about to finish).
        package var endgameStragglerFactor: Double = 1.5
        /// And at least this long.
        package var endgameMinimumAge: Duration = .milliseconds(200)
        /// How long this machine waits for the peers' first answer before it takes pieces
        /// from owners whose caches may hold them (see ``swarmIsWarm``).
        package var warmthWait: Duration = .seconds(1)
        /// Sized plans: an idle source copies a piece only when it would finish it at least
        /// this much sooner than the piece's holder is expected to…
        package var endgameMinimumGain: Duration = .milliseconds(50)
        /// …and at least this fraction of the holder's expected remaining time sooner.
        package var endgameMinimumGainFraction: Double = 0.25
        /// Sized plans with owners, once other clients fetch the file too: the fraction of
        /// the holder's expected remaining time an endgame copy must gain (a copy costs the
        /// origin the rest of the piece again; see ``PieceScheduler/othersFetch``).
        package var endgameSharedGainFraction: Double = 0.5
        /// Sized plans with owners: an idle source takes a pending piece from another owner
        /// only when it would finish it at least this much sooner than the owner is expected
        /// to be through its backlog…
        package var stealMinimumGain: Duration = .milliseconds(50)
        /// …and at least this fraction of that time sooner (see ``assignOwners(_:)``).
        package var stealMinimumGainFraction: Double = 0.25
        package init() {}
    }

    enum PieceState: Equatable, Sendable {
        case pending, active, done
        /// Reset by a ban while copies of the old bytes were still running: it goes back to
        /// the queue once they have all reported back (see ``stale``).
        case draining
    }

    struct SourceState: Sendable {
        var maxInFlight: Int
        var maxConsecutiveFailures: Int
        var inFlight: Set<Int> = []
        var consecutiveFailures = 0
        var benchedUntil: Instant?
        var dropped = false
        var banned = false
        var completed = 0
        /// Bytes per second per piece in flight, learned from completions (sized plans only).
        var rate: Double?
    }

    package let pieceCount: Int
    package let policy: Policy
    /// Byte count of each piece, when known.
    let sizes: [Int64]?
    var states: [PieceState]
    /// Pending pieces, highest index first so that `popLast` takes the lowest; re-queued
    /// pieces are appended and so are taken next.
    var pending: [Int]
    /// For each active piece, the sources fetching it and when each started.
    var holders: [Int: [SourceID: Instant]] = [:]
    var sources: [SourceID: SourceState] = [:]
    var doneCount = 0
    /// Which source delivered each completed piece (for banning a source that lied).
    var deliveredBy: [Int: SourceID] = [:]
    /// Moving average of how long a piece takes, from assignment to completion.
    private var averagePieceDuration: Duration?
    /// What has been written of each piece (sized plans; see `PieceScheduler+Writes.swift`).
    var ledger: [PieceLedger]
    /// Copies of reset pieces that have not reported back yet (their piece is draining).
    var stale: [Int: Set<SourceID>] = [:]
    /// The copy whose write completed each piece, until it reports back: its stream may go
    /// on past that write (another copy wrote the rest), so a reset of the piece must wait
    /// for it like for any other copy.
    var finishing: [Int: SourceID] = [:]
    /// Bytes written into pieces, counting a complete piece whole.
    package internal(set) var writtenBytes: Int64 = 0
    /// Each piece's owner, when ownership is on (see ``assignOwners(_:)``).
    var owners: [SourceID?]?
    /// Sources that take others' pieces only from a cold swarm (see ``swarmIsWarm``).
    var coldOnly: Set<SourceID> = []
    /// Whether the peers serve this file mostly from their caches; `nil` until one answered.
    /// A source added with `stealsOnlyWhenCold` (this machine, fetching from the origin)
    /// takes no owned piece from a warm swarm, nor one before the first answer: bytes the
    /// LAN holds are not fetched over the internet again.
    package var swarmIsWarm: Bool?
    /// Until when a `stealsOnlyWhenCold` source waits for the first answer; after it, an
    /// unknown swarm counts as cold (peers that take long to answer must not stall it).
    var warmthDeadline: Instant?
    /// Whether other clients are seen to fetch this file through the same peers (a peer's
    /// answer came from its cache or a fetch already running there): then a piece taken
    /// from its owner is likely fetched from the origin twice, and an idle source takes one
    /// only when that pays (see ``assignOwners(_:)``). Alone, a steal costs nothing: the
    /// owner never fetches the piece.
    package var othersFetch = false
    /// For each piece, the peers that may take it from its owner once others fetch the file
    /// too, in order (see ``deputy(of:)``); computed when first needed.
    var deputyRanking: [[SourceID]]?
    /// Spot checks running, over all pieces.
    package internal(set) var runningChecks = 0

    /// Creates a scheduler for `pieceCount` pieces, all pending. `completed` marks pieces
    /// that are already done (for a resumed download).
    package init(pieceCount: Int, completed: Set<Int> = [], policy: Policy = Policy()) {
        self.init(pieceCount: pieceCount, sizes: nil, completed: completed, policy: policy)
    }

    /// Creates a scheduler for pieces of the given byte counts, which plans by time (see the
    /// type's overview). `completed` marks pieces already done.
    package init(pieceSizes: [Int64], completed: Set<Int> = [], policy: Policy = Policy()) {
        precondition(pieceSizes.allSatisfy { $0 > 0 }, "pieces have at least one byte")
        self.init(pieceCount: pieceSizes.count, sizes: pieceSizes, completed: completed, policy: policy)
    }

    private init(pieceCount: Int, sizes: [Int64]?, completed: Set<Int>, policy: Policy) {
        self.pieceCount = pieceCount
        self.sizes = sizes
        self.policy = policy
        self.states = (0..<pieceCount).map { completed.contains($0) ? .done : .pending }
        self.pending = (0..<pieceCount).reversed().filter { !completed.contains($0) }
        self.doneCount = completed.filter { $0 >= 0 && $0 < pieceCount }.count
        self.ledger = (0..<pieceCount).map { piece in
            var entry = PieceLedger()
            if completed.contains(piece), let sizes { entry.frontier = sizes[piece] }
            return entry
        }
        self.writtenBytes = ledger.reduce(0) { $0 + $1.frontier }
    }

    /// True when every piece is done.
    package var isComplete: Bool { doneCount == pieceCount }
    /// Number of pieces done.
    package var completedCount: Int { doneCount }
    /// True when pieces remain but no usable source is left.
    package var isStuck: Bool { !isComplete && !sources.isEmpty && sources.values.allSatisfy(\.dropped) }
    /// Whether `piece` is done.
    package func isDone(_ piece: Int) -> Bool { states[piece] == .done }
    /// Pieces completed by `source`.
    package func completedCount(of source: SourceID) -> Int { sources[source]?.completed ?? 0 }
    /// Whether `source` has been dropped from this download.
    package func isDropped(_ source: SourceID) -> Bool { sources[source]?.dropped ?? false }
    /// Pieces currently in flight at `source`.
    package func inFlight(of source: SourceID) -> Set<Int> { sources[source]?.inFlight ?? [] }
    /// Indices of all completed pieces.
    package var completedPieces: [Int] { states.indices.filter { states[$0] == .done } }

    /// Adds a source that may keep up to `maxInFlight` pieces in flight, dropped after
    /// `maxConsecutiveFailures` failures in a row (default: the policy's).
    package mutating func addSource(_ id: SourceID, maxInFlight: Int, maxConsecutiveFailures: Int? = nil, stealsOnlyWhenCold: Bool = false) {
        precondition(maxInFlight > 0)
        if stealsOnlyWhenCold { coldOnly.insert(id) }
        deputyRanking = nil
        if sources[id] == nil {
            sources[id] = SourceState(maxInFlight: maxInFlight, maxConsecutiveFailures: maxConsecutiveFailures ?? policy.maxConsecutiveFailures)
        }
    }

    /// Gives pieces owners (`owners[piece]`, `nil` for none): a source takes the pending
    /// pieces it owns first, lowest first; then pieces without a live owner; then, idle, it
    /// steals from the owner expected to finish last (by rates; without them, the one with
    /// the most pending pieces), taking that owner's last big one. When other clients fetch
    /// the file too (``othersFetch``), the owner fetches a stolen piece for them anyway, so
    /// each steal costs the origin the piece twice: then an idle source steals only when it
    /// would finish the piece clearly sooner than the owner is expected to get through its
    /// backlog (``Policy/stealMinimumGain``, ``Policy/stealMinimumGainFraction``). So each
    /// piece normally goes to its owner (a peer that caches it for the whole swarm), and the
    /// work still balances when owners differ in speed. In a warm swarm (``swarmIsWarm``)
    /// nobody steals: the owners hold the pieces.
    package mutating func assignOwners(_ owners: [SourceID?]) {
        precondition(owners.count == pieceCount)
        self.owners = owners
    }

    /// Drops a source for the rest of this download (its in-flight pieces stay assigned until
    /// they are reported as failed, completed or cancelled).
    package mutating func drop(_ id: SourceID) {
        sources[id]?.dropped = true
    }

    /// Decides what `source` does next.
    package mutating func next(for id: SourceID, now: Instant) -> Assignment {
        guard var source = sources[id] else { return .stop }
        if isComplete || source.dropped { return .stop }
        if let until = source.benchedUntil, until > now { return .wait(until: until) }
        source.benchedUntil = nil
        defer { sources[id] = source }
        guard source.inFlight.count < source.maxInFlight else { return .wait(until: nil) }
        if coldOnly.contains(id), owners != nil, warmthDeadline == nil { warmthDeadline = now + policy.warmthWait }
        if othersFetch, owners != nil, deputyRanking == nil { deputyRanking = rankDeputies() }
        if let at = pendingIndexToTake(for: source, id: id, now: now) {
            let piece = pending.remove(at: at)
            states[piece] = .active
            holders[piece, default: [:]][id] = now
            source.inFlight.insert(piece)
            return .piece(piece, duplicate: false)
        }
        // Waiting to learn whether the swarm's caches hold the file (or they do).
        if owners != nil, coldOnly.contains(id), isWarmOrUnknown(now: now) {
            return .wait(until: swarmIsWarm == nil ? warmthDeadline : nil)
        }
        // A steal that does not pay yet may once an owner's piece is overdue.
        let steal = stealRecheck(for: id, now: now)
        guard policy.endgame else { return .wait(until: steal) }
        if sizes != nil, let rate = source.rate {
            guard let piece = endgamePiece(for: id, rate: rate, now: now) else {
                return .wait(until: [endgameRecheck(for: id, rate: rate, now: now), steal].compactMap { $0 }.min())
            }
            holders[piece, default: [:]][id] = now
            source.inFlight.insert(piece)
            return .piece(piece, duplicate: true)
        }
        // Endgame: duplicate the straggler whose oldest copy started first. A copy older than
        // `endgameHopelessFactor` straggler ages no longer counts towards `maxCopies`.
        var minimumAge = policy.endgameMinimumAge
        if let average = averagePieceDuration { minimumAge = max(minimumAge, average * policy.endgameStragglerFactor) }
        // A warm swarm or a fan-out: copy only hopeless pieces (a copy elsewhere costs an
        // origin fetch).
        if copiesCostTheOrigin { minimumAge = minimumAge * policy.endgameHopelessFactor }
        let hopelessAge = minimumAge * policy.endgameHopelessFactor
        var best: (piece: Int, started: Instant)?
        var nextHopeless: Instant?
        for (piece, pieceHolders) in holders where pieceHolders[id] == nil && !isFullyReserved(piece) {
            guard let started = pieceHolders.values.min() else { continue }
            let live = pieceHolders.values.filter { now - $0 <= hopelessAge }
            if live.count >= policy.maxCopies {
                let moment = live.min()! + hopelessAge + .milliseconds(1)
                if nextHopeless == nil || moment < nextHopeless! { nextHopeless = moment }
                continue
            }
            if best == nil || started < best!.started || (started == best!.started && piece < best!.piece) {
                best = (piece, started)
            }
        }
        guard let best else { return .wait(until: nextHopeless) }
        if now - best.started < minimumAge { return .wait(until: best.started + minimumAge) }
        holders[best.piece, default: [:]][id] = now
        source.inFlight.insert(best.piece)
        return .piece(best.piece, duplicate: true)
    }

    /// Records that `source` delivered `piece` completely and correctly. Returns the other
    /// sources still fetching the same piece, whose requests should now be cancelled (they
    /// report back with ``cancelled(_:by:)``).
    ///
    /// A completion from a banned source is not accepted: the piece is released as if
    /// cancelled and an empty list is returned; check ``isBanned(_:)``.
    @discardableResult
    package mutating func completed(_ piece: Int, by id: SourceID, now: Instant) -> [SourceID] {
        if sources[id]?.banned == true || stale[piece]?.contains(id) == true {
            release(piece, from: id)
            return []
        }
        if let started = holders[piece]?[id] {
            let duration = now - started
            averagePieceDuration = averagePieceDuration.map { $0 * 0.75 + duration * 0.25 } ?? duration
            learnRate(of: id, piece: piece, took: duration)
        }
        sources[id]?.inFlight.remove(piece)
        sources[id]?.consecutiveFailures = 0
        var others: [SourceID] = []
        if let pieceHolders = holders.removeValue(forKey: piece) {
            others = pieceHolders.keys.filter { $0 != id }.sorted()
            // The losers keep the piece in their in-flight set until they report back.
            if !others.isEmpty { holders[piece] = Dictionary(uniqueKeysWithValues: others.map { ($0, pieceHolders[$0]!) }) }
        }
        if states[piece] != .done {
            states[piece] = .done
            doneCount += 1
            sources[id]?.completed += 1
            deliveredBy[piece] = id
            if let sizes {
                writtenBytes += sizes[piece] - ledger[piece].frontier
                ledger[piece].frontier = sizes[piece]
            }
        }
        return others
    }

    /// Records that `source` failed to deliver `piece`. The piece is queued again unless
    /// another copy is still in flight; the source is benched or, after repeated failures,
    /// dropped.
    ///
    /// Failures reported while the source is already benched (its other requests failing
    /// for the same reason) do not count again. `retryAfter` (a server's `Retry-After`)
    /// extends the bench; `jitter` (e.g. random in 0.5...1.5) spreads retries out.
    package mutating func failed(_ piece: Int, by id: SourceID, now: Instant, retryAfter: Duration? = nil, jitter: Double = 1) {
        release(piece, from: id)
        guard var source = sources[id] else { return }
        if let until = source.benchedUntil, until > now {
            if let retryAfter { source.benchedUntil = max(until, now + retryAfter) }
            sources[id] = source
            return
        }
        source.consecutiveFailures += 1
        if source.consecutiveFailures >= source.maxConsecutiveFailures {
            source.dropped = true
        } else {
            var bench = backoff(afterFailures: source.consecutiveFailures) * jitter
            if let retryAfter { bench = max(bench, retryAfter) }
            source.benchedUntil = now + bench
        }
        sources[id] = source
    }

    /// Records that `source` stopped fetching `piece` without fault (the piece was completed
    /// elsewhere, or the download is stopping). No penalty.
    package mutating func cancelled(_ piece: Int, by id: SourceID) {
        release(piece, from: id)
    }

    /// Bans `source` for this download (it served wrong bytes): it gets no more pieces, its
    /// completions and writes are refused, and every piece it delivered or wrote bytes into
    /// goes back to the queue (a piece with copies still running once they have reported
    /// back). Returns those pieces, and the copies to cancel.
    @discardableResult
    package mutating func ban(_ id: SourceID) -> [Int] { banReporting(id).requeued }

    /// ``ban(_:)``, also returning the copies that must be cancelled: the banned source's own,
    /// and every copy of a piece it wrote into (the piece starts over).
    package mutating func banReporting(_ id: SourceID) -> BanOutcome {
        guard sources[id]?.banned != true else { return BanOutcome(requeued: [], cancel: []) }
        sources[id]?.banned = true
        sources[id]?.dropped = true
        var touched = Set(deliveredBy.filter { $0.value == id }.map(\.key))
        for piece in ledger.indices where ledger[piece].segments.contains(where: { $0.source == id }) { touched.insert(piece) }
        var cancel: [Copy] = []
        for piece in touched.sorted() {
            cancel += reset(piece)
        }
        // Its copies of other pieces: nothing written yet; cancel them.
        for piece in (sources[id]?.inFlight ?? []).sorted() where !touched.contains(piece) && holders[piece]?[id] != nil {
            cancel.append(Copy(piece: piece, source: id))
        }
        sources[id]?.completed = 0
        return BanOutcome(requeued: touched.sorted(), cancel: cancel)
    }

    /// Whether `source` was banned.
    package func isBanned(_ id: SourceID) -> Bool { sources[id]?.banned ?? false }

    /// Bench time after `failures` failures in a row.
    package func backoff(afterFailures failures: Int) -> Duration {
        let exponent = min(max(failures - 1, 0), 16)
        let value = policy.initialBackoff * (1 << exponent)
        return min(value, policy.maximumBackoff)
    }

    mutating func release(_ piece: Int, from id: SourceID) {
        sources[id]?.inFlight.remove(piece)
        if finishing[piece] == id { finishing[piece] = nil }
        if stale[piece]?.remove(id) != nil {
            finishDraining(piece)
            return
        }
        holders[piece]?[id] = nil
        if holders[piece]?.isEmpty == true { holders[piece] = nil }
        if states[piece] == .active && holders[piece] == nil {
            states[piece] = .pending
            pending.append(piece)
        }
    }
}
