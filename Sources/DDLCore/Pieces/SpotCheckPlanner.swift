/// Which bytes that untrusted sources (peers, mirrors) delivered are spot-checked against the
/// origin (`--verify-peers RATE`): a pure state machine, fed every segment a source wrote, in
/// the order the pieces complete, and driven by a random generator tests can seed.
///
/// Not luck but a floor, plus chance on top of it:
/// - **First delivery.** The first segment each source delivers is checked at its head and
///   at its tail, in probes of ``probe`` bytes: a source that lies about everything, or about
///   the start or end of every answer, is caught in every download, however small the file.
/// - **Stratified sample.** Each source's delivered bytes, taken as one stream, are cut into
///   blocks of `window / rate` bytes, and one window is checked at a uniformly random place in
///   every block. Every byte a source delivers is in a checked window with probability about
///   `rate`, as with a plain random sample, but no stretch of `window / rate` bytes goes
///   unchecked, so the number of checks grows with what a source delivered and cannot come
///   out at zero by chance.
/// - **Endgame races.** A piece that was raced by endgame copies gets one more probe in
///   each segment of it, so a source that lies only when it wins a race is checked where
///   it does.
///
/// Probes are smaller than the sample's windows (64 KiB against 256 KiB by default): they
/// are there to catch sources that lie about all of what they send, or all of a stretch, and
/// they cost the client's own link for every peer of every download.
///
/// `rate >= 1` checks every window of every segment; `rate <= 0` checks nothing.
///
/// - **Vouched.** Once a digest from the file's publisher is known (``vouched``), the end
///   check decides whether the file is right, and the wrong bytes it finds are located and
///   fetched again: the sample then only serves to find a liar early. It shrinks to the head
///   probe of each source's first delivery (and the races' probes), so that a swarm serving a
///   file from its caches does not fetch 2 % of it from the origin again in every download.
package struct SpotCheckPlanner: Sendable {
    /// Fraction of each source's bytes in the stratified sample.
    package let rate: Double
    /// Size of one window of the stratified sample.
    package let window: Int64
    /// Size of the first delivery's and the races' probes.
    package let probe: Int64
    /// One window at a random place in every `block` bytes of a source's data.
    package let block: Int64

    private struct Stream: Sendable {
        /// Bytes of the source seen so far.
        var delivered: Int64 = 0
        /// Stream offset of the next sample point.
        var nextPoint: Int64
    }

    private var streams: [String: Stream] = [:]
    /// A digest from the publisher is known: only first-delivery head probes and race probes.
    package var vouched = false

    package init(rate: Double, window: Int64 = 256 << 10, probe: Int64 = 64 << 10) {
        precondition(window > 0 && probe > 0, "windows must hold at least one byte")
        self.rate = rate
        self.window = window
        self.probe = probe
        self.block = rate > 0 && rate < 1 ? max(window, Int64((Double(window) / rate).rounded())) : window
    }

    /// The windows to check of `segment`, bytes `source` wrote into one piece, ascending and
    /// none inside another. Call it once per segment, in the order pieces complete.
    /// - Parameter raced: the piece had endgame copies.
    package mutating func windows(
        of segment: ByteRange, by source: String, raced: Bool, using generator: inout some RandomNumberGenerator
    ) -> [ByteRange] {
        guard rate > 0 else { return [] }
        if rate >= 1 { return segment.slices(of: window) }
        var chosen: [ByteRange] = []
        var stream = streams[source] ?? Stream(nextPoint: Int64.random(in: 0..<block, using: &generator))
        if stream.delivered == 0 {
            chosen.append(segment.window(of: probe, at: segment.first))
            if !vouched { chosen.append(segment.window(of: probe, at: segment.last - probe + 1)) }
        }
        let end = stream.delivered + segment.count
        while !vouched, stream.nextPoint < end {
            chosen.append(segment.window(of: window, at: segment.first + (stream.nextPoint - stream.delivered)))
            let nextBlock = stream.nextPoint / block + 1
            stream.nextPoint = nextBlock * block + Int64.random(in: 0..<block, using: &generator)
        }
        stream.delivered = end
        streams[source] = stream
        if raced {
            chosen.append(segment.window(of: probe, at: Int64.random(in: segment.first...segment.last, using: &generator)))
        }
        return Self.pruned(chosen)
    }

    /// Sorted, without duplicates and without windows inside another.
    private static func pruned(_ windows: [ByteRange]) -> [ByteRange] {
        var result: [ByteRange] = []
        for range in windows.sorted(by: { ($0.first, -$0.last) < ($1.first, -$1.last) }) {
            if let previous = result.last, previous.first <= range.first, range.last <= previous.last { continue }
            result.append(range)
        }
        return result
    }
}
