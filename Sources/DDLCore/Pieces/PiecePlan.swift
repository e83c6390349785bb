/// How a file of known length is cut into pieces.
///
/// Pieces are contiguous and numbered from 0. The bulk of the file is cut into pieces of
/// ``pieceSize``; from ``tailStart`` on, into smaller pieces of ``tailPieceSize``, so that
/// the last round of a download is fine-grained and every source finishes at about the same
/// time instead of some waiting for others' last big piece.
package struct PiecePlan: Hashable, Sendable, Codable {
    /// Total length of the file in bytes.
    package let length: Int64
    /// Size of the bulk pieces.
    package let pieceSize: Int64
    /// Offset where the smaller tail pieces begin (a multiple of ``pieceSize``; equal to
    /// ``length`` when there is no tail).
    package let tailStart: Int64
    /// Size of the tail pieces.
    package let tailPieceSize: Int64

    /// Smallest bulk piece size ``automatic(length:sources:)`` picks for large files.
    package static let minimumAutomaticPieceSize: Int64 = 4 << 20
    /// Largest piece size ``automatic(length:sources:)`` picks.
    package static let maximumAutomaticPieceSize: Int64 = 16 << 20
    /// Smallest tail piece.
    package static let minimumTailPieceSize: Int64 = 256 << 10
    static let granule: Int64 = 64 << 10

    /// Creates a plan of equal pieces (the last may be shorter), or with a finer tail.
    package init(length: Int64, pieceSize: Int64, tailStart: Int64? = nil, tailPieceSize: Int64? = nil) {
        precondition(length >= 0 && pieceSize > 0)
        self.length = length
        self.pieceSize = pieceSize
        let start = min(tailStart ?? length, length)
        precondition(start % pieceSize == 0 || start == length, "the tail must start on a piece boundary")
        self.tailStart = start
        self.tailPieceSize = max(1, tailPieceSize ?? pieceSize)
    }

    /// Picks a bulk piece size so that every source gets several pieces (about 8 each) for a
    /// dynamic queue to balance, clamped to 4–16 MiB (smaller for files too small to give
    /// every source at least two pieces), and cuts the last two rounds (two pieces per
    /// source) eight times finer, down to 256 KiB.
    package static func automatic(length: Int64, sources: Int) -> PiecePlan {
        let sources = Int64(max(1, sources))
        var size = length / (sources * 8)
        size = min(max(size, minimumAutomaticPieceSize), maximumAutomaticPieceSize)
        // Small files: still split so that each source can take part.
        let floorForSmall = max(granule, length / (sources * 2))
        if length / size < sources * 2 { size = min(size, floorForSmall) }
        size = roundUp(max(granule, size))
        let tailPiece = roundUp(max(minimumTailPieceSize, size / 8))
        guard tailPiece < size else { return PiecePlan(length: length, pieceSize: size) }
        // The tail: the last 2 pieces' worth per source, starting on a bulk boundary.
        let tailBytes = sources * 2 * size
        let tailStart = max(0, (length - tailBytes) / size * size)
        return PiecePlan(length: length, pieceSize: size, tailStart: tailStart, tailPieceSize: tailPiece)
    }

    static func roundUp(_ size: Int64) -> Int64 { (size + granule - 1) / granule * granule }

    /// Number of pieces (0 for an empty file).
    package var count: Int {
        guard length > 0 else { return 0 }
        if tailStart == length { return Int((length + pieceSize - 1) / pieceSize) }
        return Int(tailStart / pieceSize) + Int((length - tailStart + tailPieceSize - 1) / tailPieceSize)
    }

    /// The byte range of piece `index`.
    package func range(of index: Int) -> ByteRange {
        precondition(index >= 0 && index < count, "piece \(index) out of range")
        let bulk = tailStart == length ? count : Int(tailStart / pieceSize)
        let first: Int64
        let size: Int64
        if index < bulk {
            first = Int64(index) * pieceSize
            size = pieceSize
        } else {
            first = tailStart + Int64(index - bulk) * tailPieceSize
            size = tailPieceSize
        }
        return ByteRange(first: first, last: min(first + size, length) - 1)
    }
}
