import DDLCore
@testable import DDLPeer
import Testing

/// The cache's pure planning: which bytes come from disk, from another request's fetch, or
/// from the origin.
@Suite struct BlockPlanTests {
    let block = BlockPlan.blockSize

    @Test func aColdRequestFetchesEverythingAndClaimsItsWholeBlocks() {
        var plan = BlockPlan()
        let range = ByteRange(first: 0, last: 4 * block - 1)
        #expect(plan.next(from: 0, in: range) == .fetch(range, claim: 0..<4))
        #expect(plan.claimed == [0, 1, 2, 3])
    }

    @Test func partialBlocksAtTheEdgesAreNotClaimed() {
        var plan = BlockPlan()
        let range = ByteRange(first: 100, last: 3 * block + 5)
        #expect(plan.next(from: 100, in: range) == .fetch(range, claim: 1..<3))
    }

    @Test func theLastShortBlockIsClaimedOnlyWithTheLengthKnown() {
        let length = 2 * block + 10
        let range = ByteRange(first: 0, last: length - 1)
        var unknown = BlockPlan()
        #expect(unknown.next(from: 0, in: range) == .fetch(range, claim: 0..<2))
        var known = BlockPlan(length: length)
        #expect(known.next(from: 0, in: range) == .fetch(range, claim: 0..<3))
    }

    @Test func storedRunsAreReadThenClaimedBlocksWaitedForThenTheRestFetched() {
        var plan = BlockPlan(length: 100 * block)
        plan.store(0)
        plan.store(1)
        plan.claimed = [2]
        let range = ByteRange(first: 10, last: 6 * block - 1)
        #expect(plan.next(from: 10, in: range) == .stored(ByteRange(first: 10, last: 2 * block - 1), blocks: 0...1))
        #expect(plan.next(from: 2 * block, in: range) == .wait(block: 2))
        plan.store(2)
        #expect(plan.next(from: 2 * block, in: range) == .stored(ByteRange(first: 2 * block, last: 3 * block - 1), blocks: 2...2))
        plan.store(5)
        // The fetch stops where stored bytes begin again.
        #expect(plan.next(from: 3 * block, in: range) == .fetch(ByteRange(first: 3 * block, last: 5 * block - 1), claim: 3..<5))
        #expect(plan.next(from: 5 * block, in: range) == .stored(ByteRange(first: 5 * block, last: 6 * block - 1), blocks: 5...5))
    }

    @Test func aReadRunIsCappedSoThatARequestHoldsLittleMemory() {
        var plan = BlockPlan(length: 100 * block)
        for index in 0..<40 { plan.store(index) }
        let range = ByteRange(first: 0, last: 40 * block - 1)
        let max = BlockPlan.maxReadRun
        #expect(plan.next(from: 0, in: range) == .stored(ByteRange(first: 0, last: Int64(max) * block - 1), blocks: 0...(max - 1)))
    }

    @Test func anAbandonedClaimIsFetchedByTheNextRequest() {
        var plan = BlockPlan()
        let range = ByteRange(first: 0, last: 2 * block - 1)
        _ = plan.next(from: 0, in: range)
        plan.abandon(0)
        plan.abandon(1)
        #expect(plan.next(from: 0, in: range) == .fetch(range, claim: 0..<2))
    }

    @Test func aDiscardedBlockIsFetchedAgain() {
        var plan = BlockPlan(length: 3 * block)
        for index in 0..<3 { plan.store(index) }
        plan.discard(1)
        let range = ByteRange(first: 0, last: 3 * block - 1)
        #expect(plan.next(from: block, in: range) == .fetch(ByteRange(first: block, last: 2 * block - 1), claim: 1..<2))
    }

    @Test func blockSetsCountAndForget() {
        var set = BlockSet()
        for index in [0, 63, 64, 1000, 64] { set.insert(index) }
        #expect(set.count == 4)
        #expect(set.contains(1000) && !set.contains(999))
        set.remove(63)
        set.remove(63)
        #expect(set.count == 3)
        #expect(!set.contains(63))
    }
}
