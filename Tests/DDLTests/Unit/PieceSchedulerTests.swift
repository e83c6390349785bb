import DDLCore
import Testing

@Suite struct PieceSchedulerTests {
    let t0 = ContinuousClock.now

    @Test func handsOutPiecesInOrderUpToTheInFlightLimit() {
        var s = PieceScheduler(pieceCount: 5)
        s.addSource("a", maxInFlight: 2)
        #expect(s.next(for: "a", now: t0) == .piece(0, duplicate: false))
        #expect(s.next(for: "a", now: t0) == .piece(1, duplicate: false))
        #expect(s.next(for: "a", now: t0) == .wait(until: nil))
        s.completed(0, by: "a", now: t0)
        #expect(s.next(for: "a", now: t0) == .piece(2, duplicate: false))
    }

    @Test func fastSourcesDoMoreWork() {
        // "fast" completes each piece immediately; "slow" never completes its first two.
        var s = PieceScheduler(pieceCount: 20, policy: { var p = PieceScheduler.Policy(); p.endgame = false; return p }())
        s.addSource("slow", maxInFlight: 2)
        s.addSource("fast", maxInFlight: 2)
        _ = s.next(for: "slow", now: t0)
        _ = s.next(for: "slow", now: t0)
        while case let .piece(p, _) = s.next(for: "fast", now: t0) { s.completed(p, by: "fast", now: t0) }
        #expect(s.completedCount(of: "fast") == 18)
        #expect(s.completedCount(of: "slow") == 0)
        #expect(!s.isComplete)
    }

    @Test func failedPieceGoesBackToTheQueueForAnotherSource() {
        var s = PieceScheduler(pieceCount: 3)
        s.addSource("a", maxInFlight: 1)
        s.addSource("b", maxInFlight: 1)
        #expect(s.next(for: "a", now: t0) == .piece(0, duplicate: false))
        #expect(s.next(for: "b", now: t0) == .piece(1, duplicate: false))
        s.failed(0, by: "a", now: t0)
        s.completed(1, by: "b", now: t0)
        // The failed piece is retried first, by the healthy source.
        #expect(s.next(for: "b", now: t0) == .piece(0, duplicate: false))
        // The failed source is benched for a while.
        guard case let .wait(until?) = s.next(for: "a", now: t0) else {
            Issue.record("a should be benched")
            return
        }
        #expect(until > t0)
        #expect(s.next(for: "a", now: until) == .piece(2, duplicate: false))
    }

    @Test func backoffGrowsExponentiallyAndIsCapped() {
        let s = PieceScheduler(pieceCount: 1)
        #expect(s.backoff(afterFailures: 1) == .milliseconds(250))
        #expect(s.backoff(afterFailures: 2) == .milliseconds(500))
        #expect(s.backoff(afterFailures: 3) == .seconds(1))
        #expect(s.backoff(afterFailures: 30) == .seconds(8))
    }

    @Test func sourceIsDroppedAfterRepeatedFailures() {
        var s = PieceScheduler(pieceCount: 2)
        s.addSource("bad", maxInFlight: 1)
        var now = t0
        for _ in 0..<s.policy.maxConsecutiveFailures {
            guard case let .piece(p, _) = s.next(for: "bad", now: now) else {
                Issue.record("expected a piece")
                return
            }
            s.failed(p, by: "bad", now: now)
            now = now + .seconds(60)
        }
        #expect(s.isDropped("bad"))
        #expect(s.next(for: "bad", now: now) == .stop)
        #expect(s.isStuck)
    }

    @Test func successResetsTheFailureCount() {
        var s = PieceScheduler(pieceCount: 10)
        s.addSource("a", maxInFlight: 1)
        var now = t0
        for _ in 0..<(s.policy.maxConsecutiveFailures * 2) {
            guard case let .piece(p, _) = s.next(for: "a", now: now) else { break }
            s.failed(p, by: "a", now: now)
            now = now + .seconds(60)
            guard case let .piece(q, _) = s.next(for: "a", now: now) else { break }
            s.completed(q, by: "a", now: now)
        }
        #expect(!s.isDropped("a"))
    }

    @Test func endgameDuplicatesStragglersAndReportsTheLoser() {
        var s = PieceScheduler(pieceCount: 2)
        s.addSource("slow", maxInFlight: 1)
        s.addSource("fast", maxInFlight: 1)
        #expect(s.next(for: "slow", now: t0) == .piece(0, duplicate: false))
        #expect(s.next(for: "fast", now: t0) == .piece(1, duplicate: false))
        s.completed(1, by: "fast", now: t0 + .milliseconds(100))
        // Piece 0 is young: the idle source waits until it counts as a straggler.
        guard case let .wait(until?) = s.next(for: "fast", now: t0 + .milliseconds(100)) else {
            Issue.record("expected a timed wait")
            return
        }
        #expect(s.next(for: "fast", now: until) == .piece(0, duplicate: true))
        // The duplicate wins; the slow copy must be cancelled.
        #expect(s.completed(0, by: "fast", now: until) == ["slow"])
        #expect(s.isComplete)
        s.cancelled(0, by: "slow")
        #expect(s.inFlight(of: "slow").isEmpty)
        #expect(s.next(for: "slow", now: until) == .stop)
    }

    @Test func failedDuplicateDoesNotRequeueWhileAnotherCopyRuns() {
        var s = PieceScheduler(pieceCount: 1)
        s.addSource("a", maxInFlight: 1)
        s.addSource("b", maxInFlight: 1)
        _ = s.next(for: "a", now: t0)
        #expect(s.next(for: "b", now: t0 + .seconds(10)) == .piece(0, duplicate: true))
        s.failed(0, by: "b", now: t0 + .seconds(10))
        #expect(s.inFlight(of: "a") == [0])
        s.completed(0, by: "a", now: t0 + .seconds(11))
        #expect(s.isComplete)
    }

    @Test func resumedPiecesAreNotFetchedAgain() {
        var s = PieceScheduler(pieceCount: 3, completed: [0, 2])
        s.addSource("a", maxInFlight: 3)
        #expect(s.completedCount == 2)
        #expect(s.next(for: "a", now: t0) == .piece(1, duplicate: false))
        s.completed(1, by: "a", now: t0)
        #expect(s.isComplete)
        #expect(s.next(for: "a", now: t0) == .stop)
    }

    @Test func banningRequeuesEverythingTheSourceDeliveredAndRefusesMore() {
        var s = PieceScheduler(pieceCount: 4)
        s.addSource("liar", maxInFlight: 2)
        s.addSource("honest", maxInFlight: 1)
        #expect(s.next(for: "liar", now: t0) == .piece(0, duplicate: false))
        #expect(s.next(for: "liar", now: t0) == .piece(1, duplicate: false))
        #expect(s.next(for: "honest", now: t0) == .piece(2, duplicate: false))
        s.completed(0, by: "liar", now: t0)
        s.completed(2, by: "honest", now: t0)
        #expect(s.ban("liar") == [0])
        #expect(s.isBanned("liar"))
        #expect(!s.isDone(0))
        // Its in-flight piece is not accepted.
        s.completed(1, by: "liar", now: t0)
        #expect(!s.isDone(1))
        #expect(s.next(for: "liar", now: t0) == .stop)
        var fetched: [Int] = []
        while case let .piece(p, _) = s.next(for: "honest", now: t0) {
            fetched.append(p)
            s.completed(p, by: "honest", now: t0)
        }
        #expect(Set(fetched) == [0, 1, 3])
        #expect(s.isComplete)
    }
}
