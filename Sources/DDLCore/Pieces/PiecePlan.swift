/// How a file of known length is cut into pieces.
///
/// Pieces are contiguous, equal-sized except the last, and numbered from 0.
public struct PiecePlan: Hashable, Sendable, Codable {
    /// Total length of the file in bytes.
    public let length: Int64
    /// Size of every piece but the last.
    public let pieceSize: Int64

    /// Smallest piece size ``automatic(length:sources:)`` picks for large files.
    public static let minimumAutomaticPieceSize: Int64 = 4 << 20
    /// Largest piece size ``automatic(length:sources:)`` picks.
    public static let maximumAutomaticPieceSize: Int64 = 16 << 20

    /// Creates a plan with an explicit piece size.
    public init(length: Int64, pieceSize: Int64) {
        precondition(length >= 0 && pieceSize > 0)
        self.length = length
        self.pieceSize = pieceSize
    }

    /// Picks a piece size so that every source gets several pieces (about 8 each) for a
    /// dynamic queue to balance, clamped to 4–16 MiB, and smaller for files too small to
    /// give every source at least two pieces.
    public static func automatic(length: Int64, sources: Int) -> PiecePlan {
        let sources = Int64(max(1, sources))
        var size = length / (sources * 8)
        size = min(max(size, minimumAutomaticPieceSize), maximumAutomaticPieceSize)
        // Small files: still split so that each source can take part.
        let floorForSmall = max(64 << 10, length / (sources * 2))
        if length / size < sources * 2 { size = min(size, floorForSmall) }
        // Round to 64 KiB for tidy offsets.
        size = max(64 << 10, (size + (64 << 10) - 1) / (64 << 10) * (64 << 10))
        return PiecePlan(length: length, pieceSize: size)
    }

    /// Number of pieces (0 for an empty file).
    public var count: Int {
        length == 0 ? 0 : Int((length + pieceSize - 1) / pieceSize)
    }

    /// The byte range of piece `index`.
    public func range(of index: Int) -> ByteRange {
        precondition(index >= 0 && index < count, "piece \(index) out of range")
        let first = Int64(index) * pieceSize
        return ByteRange(first: first, last: min(first + pieceSize, length) - 1)
    }
}
