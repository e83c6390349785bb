import DDLCore
import Testing

/// The scheduler with piece sizes: it learns each source's rate and plans by time.
@Suite struct PieceSchedulerRateTests {
    let t0 = ContinuousClock.now
    let mib: Int64 = 1 << 20

    /// 10 bulk pieces of 8 MiB, then 16 tail pieces of 1 MiB.
    func sizes() -> [Int64] { Array(repeating: 8 * mib, count: 10) + Array(repeating: mib, count: 16) }

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int(seconds * 1000)) }

    /// Two one-slot sources that each take their first piece at t0 and complete it at the
    /// given second, so both rates are known. Returns the scheduler and the two first pieces.
    func twoSources(
        _ sizes: [Int64], _ a: String, doneAt aDone: Double, _ b: String, doneAt bDone: Double
    ) -> (PieceScheduler, first: [PieceScheduler.Assignment]) {
        var s = PieceScheduler(pieceSizes: sizes)
        s.addSource(a, maxInFlight: 1)
        s.addSource(b, maxInFlight: 1)
        let first = [s.next(for: a, now: t0), s.next(for: b, now: t0)]
        for (source, assignment, done) in [(a, first[0], aDone), (b, first[1], bDone)] {
            if case let .piece(piece, _) = assignment { s.completed(piece, by: source, now: at(done)) }
        }
        return (s, first)
    }

    @Test func aNewSourceStartsWithTheSmallestPiece() {
        var s = PieceScheduler(pieceSizes: sizes())
        s.addSource("a", maxInFlight: 2)
        #expect(s.next(for: "a", now: t0) == .piece(10, duplicate: false))
        #expect(s.next(for: "a", now: t0) == .piece(11, duplicate: false))
        // Once its rate is known, a fast source takes the bulk pieces in order.
        s.completed(10, by: "a", now: at(0.1))
        #expect(s.next(for: "a", now: at(0.1)) == .piece(0, duplicate: false))
    }

    @Test func aSourceTooSlowForABulkPieceGetsTheSmallOnes() {
        // 10 MiB/s and 0.5 MiB/s (16 s for 8 MiB).
        var (s, first) = twoSources(sizes(), "fast", doneAt: 0.1, "slow", doneAt: 2)
        #expect(first == [.piece(10, duplicate: false), .piece(11, duplicate: false)])
        // The queue (80 + 14 MiB) drains in about 9 s at 10.5 MiB/s: too short for the slow one.
        #expect(s.next(for: "fast", now: at(2)) == .piece(0, duplicate: false))
        #expect(s.next(for: "slow", now: at(2)) == .piece(12, duplicate: false))
    }

    @Test func aSlowButAdequateSourceStillTakesBulkPieces() {
        // 10 MiB/s and 4 MiB/s: 2 s per bulk piece, and the queue lasts about 7 s.
        var (s, first) = twoSources(sizes(), "fast", doneAt: 0.1, "slower", doneAt: 0.25)
        #expect(first == [.piece(10, duplicate: false), .piece(11, duplicate: false)])
        #expect(s.next(for: "slower", now: at(0.25)) == .piece(0, duplicate: false))
    }

    @Test func sourcesOfEqualSpeedTakeTheBulkPiecesFirstEvenAtTheEnd() {
        // One source, four slots (a direct download): the last bulk piece is not left for last.
        var s = PieceScheduler(pieceSizes: sizes())
        s.addSource("self", maxInFlight: 4)
        for piece in 10..<14 { #expect(s.next(for: "self", now: t0) == .piece(piece, duplicate: false)) }
        for piece in 10..<14 { s.completed(piece, by: "self", now: at(0.1)) }
        for piece in 0..<4 { #expect(s.next(for: "self", now: at(0.1)) == .piece(piece, duplicate: false)) }
        for piece in 0..<4 { s.completed(piece, by: "self", now: at(0.9)) }
        for piece in 4..<8 { #expect(s.next(for: "self", now: at(0.9)) == .piece(piece, duplicate: false)) }
        for piece in 4..<8 { s.completed(piece, by: "self", now: at(1.7)) }
        // 2 bulk + 12 tail pieces left (28 MiB); one bulk piece takes longer than the queue lasts.
        #expect(s.next(for: "self", now: at(1.7)) == .piece(8, duplicate: false))
        #expect(s.next(for: "self", now: at(1.7)) == .piece(9, duplicate: false))
        #expect(s.next(for: "self", now: at(1.7)) == .piece(14, duplicate: false))
    }

    @Test func theEndgameCopiesAPieceOnlyWhenTheIdleSourceFinishesClearlySooner() {
        // 10 MiB/s and 1 MiB/s.
        var (s, first) = twoSources([8 * mib, mib, mib], "fast", doneAt: 0.1, "slow", doneAt: 1)
        #expect(first == [.piece(1, duplicate: false), .piece(2, duplicate: false)])
        #expect(s.next(for: "slow", now: at(1)) == .piece(0, duplicate: false))  // 8 s to go at 1 MiB/s
        // The queue is empty; "fast" needs 0.8 s for the piece, "slow" about 8 s more: copy it.
        #expect(s.next(for: "fast", now: at(1)) == .piece(0, duplicate: true))
        #expect(s.completed(0, by: "fast", now: at(1.8)) == ["slow"])
    }

    @Test func theEndgameLeavesAPieceThatIsAboutToFinish() {
        // 10 MiB/s and 8 MiB/s.
        var (s, first) = twoSources([8 * mib, mib, mib], "fast", doneAt: 0.1, "other", doneAt: 0.125)
        #expect(first == [.piece(1, duplicate: false), .piece(2, duplicate: false)])
        #expect(s.next(for: "other", now: at(0.125)) == .piece(0, duplicate: false))
        // At 0.9 s "other" has about 0.2 s to go; a copy would need 0.8 s. Nothing can change
        // before "other" has run as long as "fast" would need for the piece (0.925 s).
        expectWait(s.next(for: "fast", now: at(0.9)), near: 0.925)
        // Then it is still not worth it; next look when "other" is due (1.125 s)...
        expectWait(s.next(for: "fast", now: at(0.926)), near: 1.125)
        // ...and once it is overdue, the piece is copied.
        #expect(s.next(for: "fast", now: at(1.127)) == .piece(0, duplicate: true))
    }

    /// `assignment` is a wait until just after `seconds` (the scheduler adds a millisecond).
    func expectWait(_ assignment: PieceScheduler.Assignment, near seconds: Double, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case let .wait(until?) = assignment else {
            Issue.record("expected a timed wait, got \(assignment)", sourceLocation: sourceLocation)
            return
        }
        #expect(until > at(seconds) && until < at(seconds + 0.003), "waits until \(until - t0)", sourceLocation: sourceLocation)
    }

    @Test func anUnknownHolderIsCopiedOnceItRanLongerThanTheIdleSourceWouldNeed() {
        var s = PieceScheduler(pieceSizes: [mib, mib])
        s.addSource("fast", maxInFlight: 1)
        s.addSource("mute", maxInFlight: 1)
        #expect(s.next(for: "fast", now: t0) == .piece(0, duplicate: false))
        #expect(s.next(for: "mute", now: t0) == .piece(1, duplicate: false))
        s.completed(0, by: "fast", now: at(0.1))  // 10 MiB/s; "mute" has delivered nothing yet
        // Not yet: "mute" has run exactly as long as "fast" needs; look again just after.
        expectWait(s.next(for: "fast", now: at(0.1)), near: 0.1)
        #expect(s.next(for: "fast", now: at(0.2)) == .piece(1, duplicate: true))
    }

    @Test func aHolderPastItsExpectedTimeIsCopied() {
        // 10 MiB/s and 2 MiB/s.
        var (s, first) = twoSources([mib, mib, mib], "fast", doneAt: 0.1, "slowed", doneAt: 0.5)
        #expect(first == [.piece(0, duplicate: false), .piece(1, duplicate: false)])
        #expect(s.next(for: "slowed", now: at(0.5)) == .piece(2, duplicate: false))  // due at 1.0 s
        // At 0.9 s "slowed" has run 4 times what "fast" needs (it stops counting as a live
        // copy) but has 0.1 s to go: leave it, and look again when it is due.
        expectWait(s.next(for: "fast", now: at(0.89)), near: 0.9)
        expectWait(s.next(for: "fast", now: at(0.9011)), near: 1.0)
        // At 1.2 s it is overdue by more than the 0.1 s "fast" needs for the whole piece.
        #expect(s.next(for: "fast", now: at(1.2)) == .piece(2, duplicate: true))
    }

    @Test func twoStalledCopiesDoNotKeepAPieceFromAFastSource() {
        var s = PieceScheduler(pieceSizes: [mib, mib])
        for id in ["fast", "stuck1", "stuck2"] { s.addSource(id, maxInFlight: 1) }
        #expect(s.next(for: "fast", now: t0) == .piece(0, duplicate: false))
        #expect(s.next(for: "stuck1", now: t0) == .piece(1, duplicate: false))
        s.completed(0, by: "fast", now: at(0.1))  // 10 MiB/s
        #expect(s.next(for: "stuck2", now: at(0.2)) == .piece(1, duplicate: true))  // no rate known: a straggler copy
        // Two copies (the most), neither delivering: "fast" waits until the older one counts
        // as hopeless (it ran 4 times the 0.1 s "fast" needs for the piece)...
        expectWait(s.next(for: "fast", now: at(0.3)), near: 0.3)
        expectWait(s.next(for: "fast", now: at(0.302)), near: 0.4)
        // ...and then takes a third copy.
        #expect(s.next(for: "fast", now: at(0.402)) == .piece(1, duplicate: true))
    }

    @Test func everyPieceIsDeliveredOnceWithRandomRates() {
        // A seeded simulation: sources of very different rates, one failing now and then.
        var generator = SeededGenerator(seed: 7)
        let sizes = sizes()
        var s = PieceScheduler(pieceSizes: sizes)
        let rates: [String: Double] = ["a": 10, "b": 3, "c": 0.4]  // MiB/s per piece in flight
        for id in rates.keys.sorted() { s.addSource(id, maxInFlight: 2) }
        var running: [(id: String, piece: Int, ends: Double)] = []
        var now = 0.0
        var steps = 0
        while !s.isComplete && steps < 10_000 {
            steps += 1
            for id in rates.keys.sorted() {
                while case let .piece(piece, _) = s.next(for: id, now: at(now)) {
                    running.append((id, piece, now + Double(sizes[piece]) / (rates[id]! * Double(mib))))
                }
            }
            guard let next = running.min(by: { $0.ends < $1.ends }) else { now += 0.05; continue }
            now = max(now, next.ends)
            running.removeAll { $0.id == next.id && $0.piece == next.piece }
            if next.id == "b" && Int.random(in: 0..<10, using: &generator) == 0 {
                s.failed(next.piece, by: next.id, now: at(now))
            } else if !s.isDone(next.piece) {
                for loser in s.completed(next.piece, by: next.id, now: at(now)) {
                    running.removeAll { $0.id == loser && $0.piece == next.piece }
                    s.cancelled(next.piece, by: loser)
                }
            }
        }
        #expect(s.isComplete)
        #expect(s.completedPieces == Array(0..<sizes.count))
    }
}
