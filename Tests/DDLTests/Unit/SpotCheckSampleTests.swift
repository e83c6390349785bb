import DDLCore
import Testing

@Suite struct SpotCheckSampleTests {
    let window: Int64 = 256 << 10

    @Test func rateOneChecksTheWholePieceInWindowsAndZeroNothing() {
        var generator = SeededGenerator(seed: 1)
        let piece = ByteRange(first: 4 << 20, last: (8 << 20) - 1)
        let all = SpotCheckSample.windows(in: piece, rate: 1, window: window, using: &generator)
        #expect(all.count == 16 && all.allSatisfy { $0.count == window })
        #expect(all.first?.first == piece.first && all.last?.last == piece.last)
        for (a, b) in zip(all, all.dropFirst()) { #expect(a.last + 1 == b.first) }
        // A short range is one short window.
        let short = ByteRange(first: 10, last: 1009)
        #expect(SpotCheckSample.windows(in: short, rate: 2, window: window, using: &generator) == [short])
        #expect(SpotCheckSample.windows(in: piece, rate: 0, window: window, using: &generator).isEmpty)
        #expect(SpotCheckSample.windows(in: piece, rate: -1, window: window, using: &generator).isEmpty)
    }

    @Test func windowsAreDistinctSlotsInsideThePiece() {
        var generator = SeededGenerator(seed: 2)
        // 1 MiB + 100 bytes: four full slots and a short fifth one.
        let piece = ByteRange(first: 1000, last: 1000 + (1 << 20) + 99)
        for _ in 0..<500 {
            let windows = SpotCheckSample.windows(in: piece, rate: 0.5, window: window, using: &generator)
            #expect(windows.count >= 2 && windows.count <= 3)  // 0.5 × 5 slots = 2.5
            for w in windows {
                #expect(w.first >= piece.first && w.last <= piece.last)
                #expect((w.first - piece.first) % window == 0)
                #expect(w.count == window || w.last == piece.last)
            }
            for (a, b) in zip(windows, windows.dropFirst()) { #expect(a.last < b.first) }
        }
    }

    @Test func aboutRateOfTheBytesAreChecked() {
        var generator = SeededGenerator(seed: 3)
        let piece = ByteRange(first: 0, last: (4 << 20) - 1)  // 16 slots
        var checked: Int64 = 0
        var checkedPieces = 0
        let rounds = 5000
        for _ in 0..<rounds {
            let windows = SpotCheckSample.windows(in: piece, rate: 0.02, window: window, using: &generator)
            checked += windows.reduce(0) { $0 + $1.count }
            if !windows.isEmpty { checkedPieces += 1 }
        }
        let fraction = Double(checked) / Double(piece.count * Int64(rounds))
        #expect(fraction > 0.015 && fraction < 0.025)
        // Spread over many pieces (0.02 × 16 slots ≈ a third of them), not a few whole ones.
        #expect(checkedPieces > rounds / 4)
    }

    @Test func aPieceSmallerThanAWindowIsCheckedWholeOrNotAtAll() {
        var generator = SeededGenerator(seed: 4)
        let piece = ByteRange(first: 7, last: 1006)
        var seen = 0
        for _ in 0..<2000 {
            let windows = SpotCheckSample.windows(in: piece, rate: 0.1, window: window, using: &generator)
            #expect(windows.isEmpty || windows == [piece])
            seen += windows.count
        }
        #expect(seen > 100 && seen < 300)
    }
}
