/// The answer to a peer's `GET /v1/cache/holdings?url=URL` (with `If-Range: VALIDATOR`):
/// the byte ranges of that version of the file stored in the peer's cache, each
/// `[first, last]`, in order. Clients ask every peer before a download, so that a piece
/// some peer already holds goes to that peer (see `Rendezvous`).
public struct CacheHoldings: Codable, Sendable, Hashable {
    public var ranges: [[Int64]]

    public init(ranges: [[Int64]]) { self.ranges = ranges }

    /// How many bytes of `range` the stored ranges cover.
    public func covered(_ range: ByteRange) -> Int64 {
        var bytes: Int64 = 0
        for pair in ranges where pair.count == 2 && pair[0] <= range.last && pair[1] >= range.first {
            bytes += min(pair[1], range.last) - max(pair[0], range.first) + 1
        }
        return bytes
    }
}
