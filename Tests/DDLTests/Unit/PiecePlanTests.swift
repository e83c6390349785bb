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
}
