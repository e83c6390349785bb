import DDLCore

/// The pure part of the peer cache: how a requested byte range is served from blocks that are
/// stored, being fetched by another request, or missing.
///
/// A cached file is cut into blocks of ``blockSize`` bytes (64 KiB, the granule of every
/// client's piece plan, so that pieces cover whole blocks); the last block of the file may be
/// shorter. A request is served as a sequence of segments, each decided when the previous one
/// is done (the state changes meanwhile): a run of stored blocks is read from disk, a block
/// another request is fetching is waited for, and a run of missing bytes is fetched from the
/// origin by this request, which stores the whole blocks it fetches and announces them to
/// requests waiting for them (single flight).
package struct BlockPlan: Sendable, Hashable {
    package static let blockSize: Int64 = 64 << 10
    /// Most blocks one `.stored` segment reads (1 MiB): what a request holds in memory.
    package static let maxReadRun = 16

    /// What a request does next, from `cursor` on.
    package enum Segment: Sendable, Hashable {
        /// Read these bytes from the stored blocks `blocks`.
        case stored(ByteRange, blocks: ClosedRange<Int>)
        /// Wait until `block`, which another request is fetching, is stored (or abandoned).
        case wait(block: Int)
        /// Fetch these bytes from the origin; `claim` are the whole blocks inside them, which
        /// this request stores (empty when none).
        case fetch(ByteRange, claim: Range<Int>)
    }

    /// The file's length, once an origin answer has told it.
    package var length: Int64?
    /// Blocks stored on disk.
    package var stored = BlockSet()
    /// Blocks some request is fetching and will store.
    package var claimed: Set<Int> = []

    package init(length: Int64? = nil) { self.length = length }

    package static func block(containing offset: Int64) -> Int { Int(offset / blockSize) }

    /// The bytes of `block`: a full block, or the file's short last block (needs the length).
    package func range(of block: Int) -> ByteRange? {
        let first = Int64(block) * Self.blockSize
        var last = first + Self.blockSize - 1
        if let length {
            guard first < length else { return nil }
            last = min(last, length - 1)
        }
        return ByteRange(first: first, last: last)
    }

    /// Whether `block` lies wholly inside `range` (so a fetch of `range` can store it).
    func isWhole(_ block: Int, in range: ByteRange) -> Bool {
        guard let bytes = self.range(of: block) else { return false }
        // Without a length, only a full block counts (the last one's end is unknown).
        if length == nil, bytes.count < Self.blockSize { return false }
        return bytes.first >= range.first && bytes.last <= range.last
    }

    /// The next segment of a request for `range`, from `cursor` (inside `range`) on. A
    /// `.fetch` claims its blocks: the caller must ``store(_:)`` or ``abandon(_:)`` each.
    package mutating func next(from cursor: Int64, in range: ByteRange) -> Segment {
        precondition(cursor >= range.first && cursor <= range.last)
        let first = Self.block(containing: cursor)
        if stored.contains(first), let bytes = self.range(of: first), bytes.last >= cursor {
            var last = first
            while last - first + 1 < Self.maxReadRun, stored.contains(last + 1), let next = self.range(of: last + 1), next.first <= range.last { last += 1 }
            let end = min(range.last, self.range(of: last)!.last)
            return .stored(ByteRange(first: cursor, last: end), blocks: first...last)
        }
        if claimed.contains(first) { return .wait(block: first) }
        // Fetch up to the next block that is stored or claimed (or the end of the request).
        var end = range.last
        var block = first + 1
        while Int64(block) * Self.blockSize <= range.last {
            if stored.contains(block) || claimed.contains(block) {
                end = Int64(block) * Self.blockSize - 1
                break
            }
            block += 1
        }
        let fetch = ByteRange(first: cursor, last: end)
        var claimStart = first
        if !isWhole(first, in: fetch) { claimStart += 1 }
        var claimEnd = claimStart
        while isWhole(claimEnd, in: fetch) { claimEnd += 1 }
        let claim = claimStart..<max(claimStart, claimEnd)
        for block in claim { claimed.insert(block) }
        return .fetch(fetch, claim: claim)
    }

    /// Records that `block` is stored.
    package mutating func store(_ block: Int) {
        claimed.remove(block)
        stored.insert(block)
    }

    /// Releases a claim whose block was not stored (the fetch failed or ended early).
    package mutating func abandon(_ block: Int) {
        claimed.remove(block)
    }

    /// Forgets a stored block (its bytes on disk failed their checksum).
    package mutating func discard(_ block: Int) {
        stored.remove(block)
    }
}
