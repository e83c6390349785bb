/// Planning by time, for plans whose piece sizes are known: each source's rate is learned
/// from its completions (bytes per second per piece in flight), and used to keep slow
/// sources from holding big pieces at the end and to pick endgame copies that pay off.
extension PieceScheduler {
    /// Learns from a completion: `piece` took `duration` at `id`.
    mutating func learnRate(of id: SourceID, piece: Int, took duration: Duration) {
        guard let sizes, duration > .zero else { return }
        let sample = Double(sizes[piece]) / duration.seconds
        let previous = sources[id]?.rate
        sources[id]?.rate = previous.map { $0 * 0.5 + sample * 0.5 } ?? sample
    }

    /// Where in `pending` the piece to hand to `source` is: normally the lowest piece (the
    /// end of the array). With sizes known, a source whose rate is not known yet starts with
    /// the smallest pending piece, and so does a slow source (under half the fastest one's
    /// rate) that would take longer over the lowest piece than the whole swarm needs to
    /// drain the queue: the big pieces are left to sources that finish them in time.
    func pendingIndexToTake(for source: SourceState, id: SourceID, now: Instant) -> Int? {
        guard !pending.isEmpty else { return nil }
        if let owners { return ownedIndexToTake(for: id, owners: owners, now: now) }
        let lowest = pending.count - 1
        guard let sizes else { return lowest }
        let smallest = smallestPendingIndex(sizes)
        guard sizes[pending[smallest]] < sizes[pending[lowest]] else { return lowest }
        guard let rate = source.rate else { return smallest }
        let known = sources.values.filter { !$0.dropped }.compactMap { s in s.rate.map { (rate: $0, slots: s.maxInFlight) } }
        guard let fastest = known.map(\.rate).max(), rate < fastest * 0.5 else { return lowest }
        let swarmRate = known.reduce(0.0) { $0 + $1.rate * Double($1.slots) }
        let pendingBytes = pending.reduce(Int64(0)) { $0 + sizes[$1] }
        let drainTime = Double(pendingBytes) / max(swarmRate, 1)
        return Double(sizes[pending[lowest]]) / rate > drainTime ? smallest : lowest
    }

    /// With owners: the source's own lowest pending piece; else the lowest pending piece
    /// without a live owner; else, from the owner with the most pending, its last big piece:
    /// the one it would reach last (in a fan-out, when other clients' requests have had it
    /// fetch and cache the piece already, if ever), while the file's small tail pieces stay
    /// for the end, where they balance the sources' finish.
    /// (`pending` holds re-queued pieces at its end: they are taken first among equals.)
    func ownedIndexToTake(for id: SourceID, owners: [SourceID?], now: Instant) -> Int? {
        func isLive(_ owner: SourceID?) -> Bool {
            guard let owner, let state = sources[owner] else { return false }
            return !state.dropped
        }
        var ownOrphan: (index: Int, piece: Int)?
        var orphan: (index: Int, piece: Int)?
        var backlog: [SourceID: (count: Int, index: Int, piece: Int)] = [:]
        for (index, piece) in pending.enumerated() {
            let owner = owners[piece]
            if owner == id {
                if ownOrphan == nil || piece < ownOrphan!.piece { ownOrphan = (index, piece) }
            } else if !isLive(owner) {
                if orphan == nil || piece < orphan!.piece { orphan = (index, piece) }
            } else if let owner {
                var entry = backlog[owner] ?? (0, index, piece)
                entry.count += 1
                let (size, best) = (sizes?[piece] ?? 0, sizes?[entry.piece] ?? 0)
                if size > best || (size == best && piece > entry.piece) { (entry.index, entry.piece) = (index, piece) }
                backlog[owner] = entry
            }
        }
        if let ownOrphan { return ownOrphan.index }
        if let orphan { return orphan.index }
        if coldOnly.contains(id), isWarmOrUnknown(now: now) { return nil }
        // A warm swarm: a piece taken from its holder would be fetched from the origin again
        // (and over a WAN link, slower than the holder's LAN); the endgame still rescues a
        // hopeless one.
        if swarmIsWarm == true { return nil }
        let richest = backlog.max { ($0.value.count, $1.key) < ($1.value.count, $0.key) }
        return richest?.value.index
    }

    /// Whether the swarm is warm, or not known yet and still waited for.
    func isWarmOrUnknown(now: Instant) -> Bool {
        switch swarmIsWarm {
        case true?: true
        case false?: false
        case nil: warmthDeadline.map { now < $0 } ?? true
        }
    }

    /// Whether pieces have owners and the peers serve the file from their caches.
    var isWarmWithOwners: Bool { owners != nil && swarmIsWarm == true }

    /// The pending entry with the fewest bytes (the lowest piece among equals).
    private func smallestPendingIndex(_ sizes: [Int64]) -> Int {
        var best = pending.count - 1
        for (i, piece) in pending.enumerated() {
            let (a, b) = (sizes[piece], sizes[pending[best]])
            if a < b || (a == b && piece < pending[best]) { best = i }
        }
        return best
    }

    /// Endgame with sizes and a known rate for the idle source `id`: the in-flight piece it
    /// would finish soonest ahead of its holders' expected finish, if that gain is worth a
    /// copy (``Policy/endgameMinimumGain``, ``Policy/endgameMinimumGainFraction``). A holder
    /// whose rate is unknown, or that is already past the time its rate promised, is expected
    /// to finish never once it has run longer than `id` would need for the whole piece, and
    /// any moment before that.
    ///
    /// A copy that has run longer than ``Policy/endgameHopelessFactor`` times what `id` would
    /// need for the whole piece no longer counts towards ``Policy/maxCopies``: two stalled or
    /// trickling copies cannot keep a piece from everyone else.
    func endgamePiece(for id: SourceID, rate: Double, now: Instant) -> Int? {
        guard let sizes else { return nil }
        var best: (piece: Int, gain: Double)?
        for (piece, pieceHolders) in holders where pieceHolders[id] == nil && !isFullyReserved(piece) {
            let mine = Double(sizes[piece]) / rate
            let live = pieceHolders.values.filter { (now - $0).seconds <= mine * policy.endgameHopelessFactor }.count
            guard live < policy.maxCopies else { continue }
            // In a warm swarm a copy at another peer is fetched from the origin again: only
            // for a hopeless holder (stalled or trickling), not to gain a little time.
            if isWarmWithOwners, let oldest = pieceHolders.values.min(), (now - oldest).seconds < mine * policy.endgameHopelessFactor { continue }
            var remaining = Double.infinity
            for (holder, started) in pieceHolders {
                let age = (now - started).seconds
                if let holderRate = sources[holder]?.rate, age < Double(sizes[piece]) / holderRate {
                    remaining = min(remaining, Double(sizes[piece]) / holderRate - age)
                } else if age <= mine {
                    // Unknown rate, or already overdue: no estimate, but not worth a copy yet.
                    remaining = 0
                }
            }
            let gain = remaining - mine
            guard gain >= policy.endgameMinimumGain.seconds, gain >= remaining * policy.endgameMinimumGainFraction else { continue }
            if best == nil || gain > best!.gain || (gain == best!.gain && piece < best!.piece) { best = (piece, gain) }
        }
        return best?.piece
    }
}

extension PieceScheduler {
    /// When ``endgamePiece(for:rate:now:)`` could next change its mind for the idle source
    /// `id`: the earliest moment after `now` at which a holder becomes overdue, has run
    /// longer than `id` would need for the whole piece, or stops counting as a live copy. Between such moments the gain of a
    /// copy only shrinks, so an idle source can sleep until then (or until something
    /// happens). `nil` when no piece could ever be worth copying.
    func endgameRecheck(for id: SourceID, rate: Double, now: Instant) -> Instant? {
        guard let sizes else { return nil }
        var earliest: Instant?
        for (piece, pieceHolders) in holders where pieceHolders[id] == nil && !isFullyReserved(piece) {
            let mine = Double(sizes[piece]) / rate
            for (holder, started) in pieceHolders {
                var moments = [started + .seconds(mine), started + .seconds(mine * policy.endgameHopelessFactor)]
                if let holderRate = sources[holder]?.rate { moments.append(started + .seconds(Double(sizes[piece]) / holderRate)) }
                for moment in moments where moment >= now {
                    let later = moment + .milliseconds(1)
                    if earliest == nil || later < earliest! { earliest = later }
                }
            }
        }
        return earliest
    }
}
