/// A set of block numbers as a bitmap: one bit per block, so that the cache's memory stays
/// small and flat however much it holds (a 10 GiB file of 64 KiB blocks: 20 KiB).
package struct BlockSet: Sendable, Hashable {
    private var words: [UInt64] = []
    /// Number of blocks in the set.
    package private(set) var count = 0

    package init() {}

    package func contains(_ block: Int) -> Bool {
        guard block >= 0 else { return false }
        let word = block >> 6
        return word < words.count && words[word] & (1 << UInt64(block & 63)) != 0
    }

    package mutating func insert(_ block: Int) {
        precondition(block >= 0)
        let word = block >> 6
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: word - words.count + 1)) }
        let bit: UInt64 = 1 << UInt64(block & 63)
        if words[word] & bit == 0 {
            words[word] |= bit
            count += 1
        }
    }

    package mutating func remove(_ block: Int) {
        guard contains(block) else { return }
        words[block >> 6] &= ~(1 << UInt64(block & 63))
        count -= 1
    }
}
