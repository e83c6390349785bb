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
    /// without a live owner; else a steal (see ``stealIndex(for:now:)``).
    /// (`pending` holds re-queued pieces at its end: they are taken first among equals.)
    func ownedIndexToTake(for id: SourceID, owners: [SourceID?], now: Instant) -> Int? {
        func isLive(_ owner: SourceID?) -> Bool {
            guard let owner, let state = sources[owner] else { return false }
            return !state.dropped
        }
        var ownOrphan: (index: Int, piece: Int)?
        var orphan: (index: Int, piece: Int)?
        for (index, piece) in pending.enumerated() {
            let owner = owners[piece]
            if owner == id {
                if ownOrphan == nil || piece < ownOrphan!.piece { ownOrphan = (index, piece) }
            } else if !isLive(owner) {
                if orphan == nil || piece < orphan!.piece { orphan = (index, piece) }
            }
        }
        if let ownOrphan { return ownOrphan.index }
        if let orphan { return orphan.index }
        return stealIndex(for: id, now: now)
    }

    /// Another live owner's pending pieces, as a thief sees them.
    struct Backlog {
        var count = 0
        var bytes: Int64 = 0
        /// The piece the thief would take: the owner's last big one (of those it may take).
        var index: Int?
        var piece: Int?
    }

    /// The pending pieces of each live owner but `thief`, and the piece `thief` would take
    /// from each: once others fetch the file too, only among the pieces whose deputy it is
    /// (unless it is this machine or a mirror, see ``deputy(of:)``).
    func backlogs(for thief: SourceID) -> [SourceID: Backlog] {
        guard let owners else { return [:] }
        let deputiesOnly = othersFetch && !coldOnly.contains(thief)
        var backlogs: [SourceID: Backlog] = [:]
        for (index, piece) in pending.enumerated() {
            guard let owner = owners[piece], owner != thief, let state = sources[owner], !state.dropped else { continue }
            var entry = backlogs[owner] ?? Backlog()
            entry.count += 1
            entry.bytes += sizes?[piece] ?? 0
            if !deputiesOnly || deputy(of: piece).map({ $0 == thief }) ?? true {
                let (size, best) = (sizes?[piece] ?? 0, entry.piece.map { sizes?[$0] ?? 0 } ?? -1)
                if size > best || (size == best && piece > entry.piece!) { (entry.index, entry.piece) = (index, piece) }
            }
            backlogs[owner] = entry
        }
        return backlogs
    }

    /// What an idle source steals, if anything: from the owner with the most pending, its
    /// last big piece: the one it would reach last (in a fan-out, when other clients'
    /// requests have had it fetch and cache the piece already, if ever), while the file's
    /// small tail pieces stay for the end, where they balance the sources' finish. When
    /// other clients are seen to fetch the file too (``othersFetch``): only a piece whose
    /// deputy it is, from the owner expected to finish last (by rates; among equals, the one
    /// with the most pending), and only if that pays (``stealPays(_:finish:thief:)``).
    func stealIndex(for id: SourceID, now: Instant) -> Int? {
        if coldOnly.contains(id), isWarmOrUnknown(now: now) { return nil }
        // A warm swarm: a piece taken from its holder would be fetched from the origin again
        // (and over a WAN link, slower than the holder's LAN); the endgame still rescues a
        // hopeless one.
        if swarmIsWarm == true { return nil }
        let backlogs = backlogs(for: id).filter { $0.value.piece != nil }
        guard othersFetch else {
            return backlogs.max { ($0.value.count, $1.key) < ($1.value.count, $0.key) }?.value.index
        }
        let finish = Dictionary(uniqueKeysWithValues: backlogs.map { ($0.key, backlogTime(of: $0.key, $0.value, thief: id, now: now).seconds) })
        let latest = backlogs.max { a, b in (finish[a.key]!, a.value.count, b.key) < (finish[b.key]!, b.value.count, a.key) }
        guard let latest, stealPays(latest.value.piece!, finish: finish[latest.key]!, thief: id) else { return nil }
        return latest.value.index
    }

    /// The peer that takes `piece` from its owner when the owner is behind, once others fetch
    /// the file too: the first live one of the piece's ranking (by a hash of the piece and
    /// each peer, so every client names the same one). Every client that steals the piece
    /// then asks that one peer for it, which fetches it once for all of them (single
    /// flight), where thieves chosen by each client's own timing would each fetch it again.
    /// `nil` when no peer of the ranking is left (then any may take it).
    func deputy(of piece: Int) -> SourceID? {
        deputyRanking?[piece].first { sources[$0].map { !$0.dropped } ?? false }
    }

    /// For each piece, the first few peers (sources that are not this machine nor mirrors)
    /// but its owner, by highest random weight of (piece, peer).
    func rankDeputies() -> [[SourceID]] {
        guard let owners else { return [] }
        let peers = sources.keys.filter { !coldOnly.contains($0) }.map { (id: $0, hash: Rendezvous.mix(Rendezvous.fnv1a($0))) }
        return owners.indices.map { piece in
            let key = Rendezvous.mix(UInt64(piece) &+ 0x6465_7075_7479)
            let ranked = peers.filter { $0.id != owners[piece] }.map { (id: $0.id, weight: Rendezvous.mix($0.hash ^ key)) }
                .sorted { $0.weight > $1.weight || ($0.weight == $1.weight && $0.id < $1.id) }
            return ranked.prefix(3).map(\.id)
        }
    }

    /// When `owner` (with `backlog` pending) is expected to be through every piece it has in flight
    /// or pending for this client, in seconds from now, from its rate; `infinity` when that
    /// is not known (no rate yet for it or for `thief`, or it is benched) or it looks stuck:
    /// it has a piece in flight past the time its rate promised, for longer than `thief`
    /// would need for the backlog's piece to steal. With the moment the estimate could next
    /// jump to infinity.
    func backlogTime(of owner: SourceID, _ backlog: Backlog, thief: SourceID, now: Instant) -> (seconds: Double, recheck: Instant?) {
        guard let sizes, let state = sources[owner], let rate = state.rate, let thiefRate = sources[thief]?.rate,
              state.benchedUntil.map({ $0 <= now }) ?? true
        else { return (.infinity, nil) }
        let mine = Double(backlog.piece.map { sizes[$0] } ?? 0) / thiefRate
        var inFlight = 0.0
        var recheck: Instant?
        for held in state.inFlight {
            guard let started = holders[held]?[owner] else { continue }
            let (promised, age) = (Double(sizes[held]) / rate, (now - started).seconds)
            if age > promised && age > mine { return (.infinity, nil) }
            inFlight += max(0, promised - age)
            let stuck = started + .seconds(max(promised, mine)) + .milliseconds(1)
            if recheck == nil || stuck < recheck! { recheck = stuck }
        }
        let slots = Double(state.maxInFlight)
        return (inFlight / slots + Double(backlog.bytes) / (rate * slots), recheck)
    }

    /// Whether `thief` should take `piece` from an owner expected to be through its backlog
    /// in `finish` seconds: only when it would finish the piece clearly sooner than that
    /// (``Policy/stealMinimumGain``, ``Policy/stealMinimumGainFraction``). When other
    /// clients fetch the file too, the owner fetches the piece for them anyway, so a steal
    /// costs the origin the piece twice: it is worth that against an owner that is slower or
    /// behind, not against one that gets there about as soon. Without rates, it is taken.
    func stealPays(_ piece: Int, finish: Double, thief: SourceID) -> Bool {
        guard finish.isFinite, let sizes, let thiefRate = sources[thief]?.rate else { return true }
        let gain = finish - Double(sizes[piece]) / thiefRate
        return gain >= policy.stealMinimumGain.seconds && gain >= finish * policy.stealMinimumGainFraction
    }

    /// When a steal that does not pay now could start to (an owner's piece in flight goes
    /// past the time its rate promised and the thief would need), if steals are held back.
    func stealRecheck(for thief: SourceID, now: Instant) -> Instant? {
        guard othersFetch, owners != nil, !pending.isEmpty, swarmIsWarm != true, !(coldOnly.contains(thief) && isWarmOrUnknown(now: now)) else { return nil }
        return backlogs(for: thief).filter { $0.value.piece != nil }.compactMap { backlogTime(of: $0.key, $0.value, thief: thief, now: now).recheck }
            .filter { $0 > now }.min()
    }

    /// Whether the swarm is warm, or not known yet and still waited for.
    func isWarmOrUnknown(now: Instant) -> Bool {
        switch swarmIsWarm {
        case true?: true
        case false?: false
        case nil: warmthDeadline.map { now < $0 } ?? true
        }
    }

    /// Whether an endgame copy costs the origin more than time gained is worth: pieces
    /// have owners, and the peers serve the file from their caches (a copy at another peer
    /// fetches from the origin what the holder has) or fetch it for other clients too (the
    /// holder fetches the piece for them anyway; the copy fetches it again). Then only a
    /// hopeless holder's piece is copied (stalled or trickling), not one that would come a
    /// little later.
    var copiesCostTheOrigin: Bool { owners != nil && (swarmIsWarm == true || othersFetch) }

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
        let warm = owners != nil && swarmIsWarm == true
        // Others fetch the file too: the holder fetches the piece for them anyway, so a copy
        // costs the origin the rest of the piece again. A holder past its time counts as
        // never finishing only once it is hopeless, a copy must gain more, and only the
        // piece's deputy makes it (every client's copy then is one fetch), unless hopeless.
        let shared = owners != nil && othersFetch && !warm
        var best: (piece: Int, gain: Double)?
        for (piece, pieceHolders) in holders where pieceHolders[id] == nil && !isFullyReserved(piece) {
            let mine = Double(sizes[piece]) / rate
            let live = pieceHolders.values.filter { (now - $0).seconds <= mine * policy.endgameHopelessFactor }.count
            guard live < policy.maxCopies else { continue }
            // In a warm swarm a copy at another peer is fetched from the origin again: only
            // for a hopeless holder (stalled or trickling), not to gain a little time.
            if warm, let oldest = pieceHolders.values.min(), (now - oldest).seconds < mine * policy.endgameHopelessFactor { continue }
            let patience = shared ? mine * policy.endgameHopelessFactor : mine
            var remaining = Double.infinity
            for (holder, started) in pieceHolders {
                let age = (now - started).seconds
                if let holderRate = sources[holder]?.rate, age < Double(sizes[piece]) / holderRate {
                    remaining = min(remaining, Double(sizes[piece]) / holderRate - age)
                } else if age <= patience {
                    // Unknown rate, or already overdue: no estimate, but not worth a copy yet.
                    remaining = 0
                }
            }
            if shared, remaining.isFinite, let copier = copier(of: piece), copier != id { continue }
            let gain = remaining - mine
            let fraction = shared ? policy.endgameSharedGainFraction : policy.endgameMinimumGainFraction
            guard gain >= policy.endgameMinimumGain.seconds, gain >= remaining * fraction else { continue }
            if best == nil || gain > best!.gain || (gain == best!.gain && piece < best!.piece) { best = (piece, gain) }
        }
        return best?.piece
    }

    /// Who copies `piece` in the endgame when others fetch the file too (and its holder is
    /// not hopeless): the first live peer of its deputy ranking that is not fetching it.
    func copier(of piece: Int) -> SourceID? {
        deputyRanking?[piece].first { id in sources[id].map { !$0.dropped } ?? false && holders[piece]?[id] == nil }
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
