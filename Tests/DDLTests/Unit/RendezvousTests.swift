import DDLCore
import Testing

/// Rendezvous hashing and the scheduler's piece owners.
@Suite struct RendezvousTests {
    let peers = ["10.0.0.1:6000", "10.0.0.2:6000", "10.0.0.3:6000", "10.0.0.4:6000", "10.0.0.5:6000"]

    func owners(_ candidates: [String], pieces: Int = 1000) -> [String] {
        (0..<pieces).map { Rendezvous.owner(file: "http://o/f \"v1\"", offset: Int64($0) << 22, among: candidates)! }
    }

    @Test func piecesSpreadEvenlyOverThePeers() {
        let counts = Dictionary(grouping: owners(peers), by: { $0 }).mapValues(\.count)
        #expect(counts.count == 5)
        for (peer, count) in counts { #expect((150...250).contains(count), "\(peer) owns \(count) of 1000") }
    }

    @Test func everyClientComputesTheSameOwnersWhateverTheOrderOfItsList() {
        #expect(owners(peers) == owners(peers.reversed()))
        #expect(owners(peers) == owners(peers.shuffled()))
    }

    @Test func aPeerLeavingMovesOnlyItsOwnPieces() {
        let before = owners(peers)
        let after = owners(Array(peers.dropLast()))
        for (old, new) in zip(before, after) where old != peers.last! { #expect(old == new) }
        // And one joining takes about its share from the others, nothing else moves.
        let joined = owners(peers + ["10.0.0.6:6000"])
        let moved = zip(before, joined).filter { $0 != $1 }
        #expect(moved.allSatisfy { $0.1 == "10.0.0.6:6000" })
        #expect((100...250).contains(moved.count))
    }

    @Test func anotherFileHasOtherOwners() {
        let a = owners(peers)
        let b = (0..<1000).map { Rendezvous.owner(file: "http://o/g \"v1\"", offset: Int64($0) << 22, among: peers)! }
        #expect(zip(a, b).filter { $0 != $1 }.count > 600)
        #expect(Rendezvous.owner(file: "x", offset: 0, among: []) == nil)
    }

    // MARK: The scheduler with owners

    func scheduler(owners: [String?]) -> PieceScheduler {
        var scheduler = PieceScheduler(pieceSizes: Array(repeating: 1 << 20, count: owners.count))
        scheduler.assignOwners(owners)
        for source in ["a", "b", "self"] { scheduler.addSource(source, maxInFlight: 8) }
        return scheduler
    }

    func take(_ scheduler: inout PieceScheduler, _ source: String, now: ContinuousClock.Instant) -> Int? {
        if case let .piece(piece, duplicate: false) = scheduler.next(for: source, now: now) { return piece }
        return nil
    }

    @Test func eachSourceTakesItsOwnPiecesFirstLowestFirst() {
        var s = scheduler(owners: ["a", "b", "a", "b", "a", "b"])
        let now = ContinuousClock.now
        #expect(take(&s, "b", now: now) == 1)
        #expect(take(&s, "a", now: now) == 0)
        #expect(take(&s, "b", now: now) == 3)
        #expect(take(&s, "a", now: now) == 2)
    }

    @Test func aSourceWithoutPiecesStealsTheLastPieceOfTheBiggestBacklog() {
        var s = scheduler(owners: ["a", "b", "a", "b", "a", "a"])
        let now = ContinuousClock.now
        // "self" owns nothing: it takes a's last piece (a has 4 pending, b 2).
        #expect(take(&s, "self", now: now) == 5)
        #expect(take(&s, "self", now: now) == 4)
        // Now a has 2 and b has 2: the tie goes to the owner named first.
        #expect(take(&s, "self", now: now) == 2)
        #expect(take(&s, "a", now: now) == 0)
        #expect(take(&s, "b", now: now) == 1)
        #expect(take(&s, "b", now: now) == 3)
        #expect(take(&s, "a", now: now) == nil)
    }

    /// The file's small tail pieces stay for the end: a thief takes the last big piece.
    @Test func aThiefLeavesTheSmallTailPiecesForTheEnd() {
        var s = PieceScheduler(pieceSizes: [4 << 20, 4 << 20, 4 << 20, 1 << 20, 1 << 20])
        s.assignOwners(Array(repeating: "a", count: 5))
        s.addSource("a", maxInFlight: 8)
        s.addSource("self", maxInFlight: 8)
        let now = ContinuousClock.now
        #expect(take(&s, "self", now: now) == 2)
        #expect(take(&s, "self", now: now) == 1)
        #expect(take(&s, "a", now: now) == 0)
        #expect(take(&s, "self", now: now) == 4)
    }

    @Test func piecesOfADroppedOwnerGoToWhoeverAsks() {
        var s = scheduler(owners: ["a", "b", "b", "a"])
        s.drop("b")
        let now = ContinuousClock.now
        #expect(take(&s, "a", now: now) == 0)
        #expect(take(&s, "a", now: now) == 3)
        #expect(take(&s, "a", now: now) == 1)
        #expect(take(&s, "self", now: now) == 2)
    }

    @Test func aFailedPieceGoesBackToItsOwner() {
        var s = scheduler(owners: ["a", "b"])
        let now = ContinuousClock.now
        #expect(take(&s, "a", now: now) == 0)
        s.failed(0, by: "a", now: now)
        #expect(take(&s, "b", now: now) == 1)
        // b has nothing of its own left: it steals a's piece.
        #expect(take(&s, "b", now: now) == 0)
    }

    @Test func thisMachineTakesNoOwnedPieceFromAWarmSwarmNorBeforeTheFirstAnswer() {
        var s = PieceScheduler(pieceSizes: Array(repeating: 1 << 20, count: 4))
        s.assignOwners(["a", "a", "b", "b"])
        s.addSource("a", maxInFlight: 1)
        s.addSource("b", maxInFlight: 1)
        s.addSource("self", maxInFlight: 2, stealsOnlyWhenCold: true)
        let now = ContinuousClock.now
        #expect(s.next(for: "self", now: now) == .wait(until: now + .seconds(1)), "unknown yet: wait, a second at most")
        s.swarmIsWarm = true
        #expect(s.next(for: "self", now: now) == .wait(until: nil), "warm: the caches serve it")
        #expect(take(&s, "a", now: now) == 0)
        s.swarmIsWarm = false
        #expect(take(&s, "self", now: now) == 3, "cold: this machine's link helps")
        // A dropped owner's pieces are anyone's, warm or not.
        s.swarmIsWarm = true
        s.drop("a")
        #expect(take(&s, "self", now: now) == 1)
    }

    @Test func withoutAnAnswerForASecondTheSwarmCountsAsCold() {
        var s = PieceScheduler(pieceSizes: Array(repeating: 1 << 20, count: 2))
        s.assignOwners(["a", "a"])
        s.addSource("a", maxInFlight: 1)
        s.addSource("self", maxInFlight: 1, stealsOnlyWhenCold: true)
        let now = ContinuousClock.now
        #expect(take(&s, "a", now: now) == 0)
        #expect(s.next(for: "self", now: now) == .wait(until: now + .seconds(1)))
        #expect(take(&s, "self", now: now + .seconds(1)) == 1)
    }

    @Test func nobodyStealsFromAWarmSwarm() {
        var s = scheduler(owners: ["a", "b", "b"])
        s.swarmIsWarm = true
        let now = ContinuousClock.now
        #expect(take(&s, "a", now: now) == 0)
        #expect(take(&s, "a", now: now) == nil, "b holds its pieces in its cache")
        s.swarmIsWarm = false
        #expect(take(&s, "a", now: now) == 2)
    }
}
