/// Which bytes of a delivered piece to spot-check (`--verify-peers RATE`): a pure function
/// of the piece, the rate and a random generator, so tests can drive it with a seed.
package enum SpotCheckSample {
    /// Splits `range` into slots of `window` bytes (the last may be shorter) and picks about
    /// `rate` of them at random, none twice: `rate × slots` rounded down, plus one more with
    /// the probability of the fraction left over. So over many pieces about `rate` of the
    /// bytes are checked, in small windows. `rate >= 1` gives every slot (each window is
    /// fetched under a deadline made for a window, so a whole multi-MiB range would time out
    /// over a slow link); `rate <= 0` (or a window that is not positive) gives none. The
    /// windows come in ascending order.
    package static func windows(
        in range: ByteRange, rate: Double, window: Int64, using generator: inout some RandomNumberGenerator
    ) -> [ByteRange] {
        guard rate > 0, window > 0 else { return [] }
        let slots = Int((range.count + window - 1) / window)
        if rate >= 1 {
            return (0..<slots).map { slot in
                let first = range.first + Int64(slot) * window
                return ByteRange(first: first, last: min(first + window - 1, range.last))
            }
        }
        let expected = rate * Double(slots)
        var count = Int(expected)
        if Double.random(in: 0..<1, using: &generator) < expected - Double(count) { count += 1 }
        guard count > 0 else { return [] }
        let chosen = Array(0..<slots).shuffled(using: &generator).prefix(min(count, slots)).sorted()
        return chosen.map { slot in
            let first = range.first + Int64(slot) * window
            return ByteRange(first: first, last: min(first + window - 1, range.last))
        }
    }
}
