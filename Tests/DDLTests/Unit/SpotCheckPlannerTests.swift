import DDLCore
import Testing

@Suite struct SpotCheckPlannerTests {
    let window: Int64 = 256 << 10

    /// With the publisher's digest known, the end check decides: only each source's first
    /// 64 KiB and the races' probes are checked, so that a warm swarm does not send the client
    /// back to the origin for 2 % of every file.
    @Test func aVouchedDownloadChecksOnlyFirstHeadsAndRaces() {
        var generator = SeededGenerator(seed: 7)
        var planner = SpotCheckPlanner(rate: 0.02, window: window)
        planner.vouched = true
        let first = ByteRange(first: 0, last: (64 << 20) - 1)
        #expect(planner.windows(of: first, by: "p", raced: false, using: &generator) == [ByteRange(first: 0, last: (64 << 10) - 1)])
        let next = ByteRange(first: 64 << 20, last: (128 << 20) - 1)
        #expect(planner.windows(of: next, by: "p", raced: false, using: &generator).isEmpty)
        let raced = planner.windows(of: next, by: "p", raced: true, using: &generator)
        #expect(raced.count == 1 && raced[0].count == 64 << 10)
        // Without the digest, 64 MiB at 0.02 holds at least 5 windows besides the probes.
        var unvouched = SpotCheckPlanner(rate: 0.02, window: window)
        #expect(unvouched.windows(of: next, by: "p", raced: false, using: &generator).count >= 7)
    }

    @Test func rateOneChecksEverySegmentInWindowsAndZeroNothing() {
        var generator = SeededGenerator(seed: 1)
        var all = SpotCheckPlanner(rate: 1, window: window)
        let piece = ByteRange(first: 4 << 20, last: (8 << 20) - 1)
        let windows = all.windows(of: piece, by: "p", raced: false, using: &generator)
        #expect(windows.count == 16 && windows.allSatisfy { $0.count == window })
        #expect(windows.first?.first == piece.first && windows.last?.last == piece.last)
        for (a, b) in zip(windows, windows.dropFirst()) { #expect(a.last + 1 == b.first) }
        // A short segment is one short window.
        let short = ByteRange(first: 10, last: 1009)
        #expect(all.windows(of: short, by: "p", raced: false, using: &generator) == [short])
        for rate in [0.0, -1] {
            var none = SpotCheckPlanner(rate: rate, window: window)
            #expect(none.windows(of: piece, by: "p", raced: true, using: &generator).isEmpty)
        }
    }

    /// A source's first delivery is checked at its head and tail, whatever the sample says:
    /// a source that lies about everything is caught in every download.
    @Test func theFirstDeliveryOfEachSourceIsCheckedAtHeadAndTail() {
        for seed in 0..<200 as Range<UInt64> {
            var generator = SeededGenerator(seed: seed)
            var planner = SpotCheckPlanner(rate: 0.02, window: window)
            let first = ByteRange(first: 1 << 20, last: (5 << 20) - 1)
            let windows = planner.windows(of: first, by: "a", raced: false, using: &generator)
            let probe = planner.probe
            // Each probe is checked, alone or inside a window of the sample that covers it.
            for wanted in [ByteRange(first: first.first, last: first.first + probe - 1), ByteRange(first: first.last - probe + 1, last: first.last)] {
                #expect(windows.contains { $0.first <= wanted.first && wanted.last <= $0.last }, "\(wanted) unchecked in \(windows)")
            }
            // Another source's first delivery too, even a short one.
            let short = ByteRange(first: 100, last: 5000)
            #expect(planner.windows(of: short, by: "b", raced: false, using: &generator) == [short])
        }
    }

    /// Taken as one stream, every block of `window / rate` bytes a source delivers holds a
    /// checked byte, however the stream is cut into segments.
    @Test func everyBlockOfASourcesDataHoldsACheckedWindow() {
        var generator = SeededGenerator(seed: 7)
        let rate = 0.05
        var planner = SpotCheckPlanner(rate: rate, window: window)
        #expect(planner.block == Int64((Double(window) / rate).rounded()))
        var stream: Int64 = 0
        var checkedBlocks = Set<Int64>()
        var offset: Int64 = 0
        for _ in 0..<400 {
            let count = Int64.random(in: 1...(3 << 20), using: &generator)
            let segment = ByteRange(first: offset, last: offset + count - 1)
            for w in planner.windows(of: segment, by: "p", raced: false, using: &generator) {
                #expect(w.first >= segment.first && w.last <= segment.last && w.count <= window)
                for block in ((stream + w.first - segment.first) / planner.block)...((stream + w.last - segment.first) / planner.block) {
                    checkedBlocks.insert(block)
                }
            }
            stream += count
            offset += count + 12345  // the source's segments are anywhere in the file
        }
        let completeBlocks = stream / planner.block
        #expect(completeBlocks > 100)
        for block in 0..<completeBlocks { #expect(checkedBlocks.contains(block), "block \(block) unchecked") }
    }

    @Test func aboutRateOfTheBytesAreChecked() {
        var generator = SeededGenerator(seed: 3)
        var planner = SpotCheckPlanner(rate: 0.02, window: window)
        let piece: Int64 = 4 << 20
        let rounds: Int64 = 5000
        var checked: Int64 = 0
        for round in 0..<rounds {
            let segment = ByteRange(first: round * piece, last: (round + 1) * piece - 1)
            checked += planner.windows(of: segment, by: "p", raced: false, using: &generator).reduce(0) { $0 + $1.count }
        }
        let fraction = Double(checked) / Double(piece * rounds)
        #expect(fraction > 0.018 && fraction < 0.022)
    }

    @Test func aRacedPieceGetsOneMoreWindow() {
        var generator = SeededGenerator(seed: 9)
        var plain = SpotCheckPlanner(rate: 0.001, window: window)
        var raced = SpotCheckPlanner(rate: 0.001, window: window)
        let firstSegment = ByteRange(first: 0, last: (16 << 20) - 1)
        _ = plain.windows(of: firstSegment, by: "p", raced: false, using: &generator)
        _ = raced.windows(of: firstSegment, by: "p", raced: false, using: &generator)
        // 0.001: one window in every 256 MiB; the next 4 MiB segment is very likely unchecked.
        var plainCount = 0
        var racedCount = 0
        for n in 1...50 as ClosedRange<Int64> {
            let segment = ByteRange(first: (16 << 20) + n * (4 << 20), last: (16 << 20) + (n + 1) * (4 << 20) - 1)
            plainCount += plain.windows(of: segment, by: "p", raced: false, using: &generator).count
            let windows = raced.windows(of: segment, by: "p", raced: true, using: &generator)
            #expect(!windows.isEmpty)
            racedCount += windows.count
        }
        #expect(racedCount >= 50 && plainCount < 5)
    }
}
