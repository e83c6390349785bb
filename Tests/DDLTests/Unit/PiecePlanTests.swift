import DDLCore
import Testing

@Suite struct PiecePlanTests {
    @Test func coversTheFileExactlyWithoutGaps() {
        let plan = PiecePlan(length: 10_000_001, pieceSize: 1_000_000)
        #expect(plan.count == 11)
        var next: Int64 = 0
        for i in 0..<plan.count {
            let r = plan.range(of: i)
            #expect(r.first == next)
            next = r.last + 1
        }
        #expect(next == plan.length)
        #expect(plan.range(of: 10).count == 1)
    }

    @Test func emptyFileHasNoPieces() {
        #expect(PiecePlan(length: 0, pieceSize: 4096).count == 0)
    }

    @Test func automaticSizeStaysBetween4And16MiBForBigFiles() {
        for (length, sources) in [(Int64(200) << 20, 5), (Int64(1) << 30, 4), (Int64(8) << 30, 2), (Int64(256) << 20, 4)] {
            let plan = PiecePlan.automatic(length: length, sources: sources)
            #expect(plan.pieceSize >= PiecePlan.minimumAutomaticPieceSize)
            #expect(plan.pieceSize <= PiecePlan.maximumAutomaticPieceSize)
            #expect(plan.count >= sources * 2)
        }
    }

    @Test func smallFilesStillGiveEverySourcePieces() {
        let plan = PiecePlan.automatic(length: 3 << 20, sources: 4)
        #expect(plan.count >= 8)
        #expect(plan.pieceSize % (64 << 10) == 0)
    }

    @Test(arguments: [(Int64(200) << 20, 2), (Int64(200) << 20, 7), (Int64(1) << 30, 4), (Int64(3) << 20 + 17, 4), (Int64(12345), 3)])
    func automaticPlansTileTheFileWithAFinerTail(length: Int64, sources: Int) {
        let plan = PiecePlan.automatic(length: length, sources: sources)
        var next: Int64 = 0
        var sizes: [Int64] = []
        for i in 0..<plan.count {
            let r = plan.range(of: i)
            #expect(r.first == next, "piece \(i) starts at \(r.first), expected \(next)")
            next = r.last + 1
            sizes.append(r.count)
        }
        #expect(next == length)
        // Never larger than the bulk size, and sizes never grow towards the end (the last
        // piece may be shorter).
        #expect(sizes.allSatisfy { $0 <= plan.pieceSize })
        #expect(zip(sizes, sizes.dropFirst()).allSatisfy { $0 >= $1 } || sizes.count < 2)
    }

    @Test func bigFilesEndInSmallPieces() {
        let plan = PiecePlan.automatic(length: 200 << 20, sources: 2)
        #expect(plan.pieceSize == 12800 << 10)
        #expect(plan.tailPieceSize == 1600 << 10)
        #expect(plan.tailStart == 200 << 20 - 4 * plan.pieceSize)
        #expect(plan.range(of: plan.count - 1).count <= plan.tailPieceSize)
        // Every source's last two rounds, eight times finer.
        #expect(plan.count == 12 + 32)
    }

    @Test func explicitPlansHaveNoTail() {
        let plan = PiecePlan(length: 10 << 20, pieceSize: 1 << 20)
        #expect(plan.tailStart == plan.length)
        #expect(plan.count == 10)
    }
}
