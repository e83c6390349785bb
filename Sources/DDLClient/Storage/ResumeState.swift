import DDLCore
import Foundation

/// What the control file `<file>.ddl` beside `<file>.part` records, so that running the same
/// `ddl get` again resumes: the file's identity (URL, validators, length), the piece size and
/// the completed pieces.
package struct ResumeState: Codable, Sendable, Equatable {
    /// Format version.
    package var version = 1
    /// The URL as the user gave it, as its ``URLIdentity`` (without the signing parameters of
    /// a presigned URL, user info and fragment): a URL signed anew resumes, and no credential
    /// is written to disk. (Files written before kept the whole URL; they still match.)
    package var url: String
    /// The pinned URL after redirects, as its identity too.
    package var finalURL: String
    package var etag: String?
    package var lastModified: String?
    package var length: Int64
    package var pieceSize: Int64
    /// Where the finer tail pieces begin, and their size (absent: no tail).
    package var tailStart: Int64?
    package var tailPieceSize: Int64?
    /// Completed pieces as a bitmap (bit i of byte i/8, LSB first), base64.
    package var completed: String

    /// - Parameter ignoring: more query parameters the identities leave out
    ///   (`cache_key_ignore_params`).
    package init(url: String, file: RemoteFile, plan: PiecePlan, completed: Set<Int>, ignoring: [String] = []) {
        self.url = URLIdentity(url, ignoring: ignoring).url
        self.finalURL = URLIdentity(file.url, ignoring: ignoring).url
        self.etag = file.etag
        self.lastModified = file.lastModified
        self.length = plan.length
        self.pieceSize = plan.pieceSize
        if plan.tailStart < plan.length {
            self.tailStart = plan.tailStart
            self.tailPieceSize = plan.tailPieceSize
        }
        self.completed = Self.encode(completed, count: plan.count)
    }

    /// The completed piece indices.
    package func completedPieces(count: Int) -> Set<Int> {
        guard let data = Data(base64Encoded: completed) else { return [] }
        var pieces = Set<Int>()
        for (byteIndex, byte) in data.enumerated() where byte != 0 {
            for bit in 0..<8 where byte & (1 << bit) != 0 {
                let piece = byteIndex * 8 + bit
                if piece < count { pieces.insert(piece) }
            }
        }
        return pieces
    }

    static func encode(_ pieces: Set<Int>, count: Int) -> String {
        var bytes = [UInt8](repeating: 0, count: (count + 7) / 8)
        for piece in pieces where piece >= 0 && piece < count { bytes[piece / 8] |= 1 << (piece % 8) }
        return Data(bytes).base64EncodedString()
    }

    /// Whether this state is of the download of `url` (as the user gave it) or of `file`
    /// (after redirects): the same identities, signatures aside.
    package func isOf(url: String, file: RemoteFile, ignoring: [String] = []) -> Bool {
        let identity = { (text: String) in URLIdentity(text, ignoring: ignoring).url }
        return identity(self.url) == identity(url) || identity(finalURL) == identity(file.url)
    }

    /// Why this state cannot be used for `file`, or `nil` when it matches.
    package func mismatch(with file: RemoteFile) -> String? {
        if length != file.length { return "its length changed from \(length) to \(file.length.map(String.init) ?? "unknown") bytes" }
        if let etag, etag != file.etag { return "its ETag changed from \(etag) to \(file.etag ?? "none")" }
        if etag == nil, let lastModified, lastModified != file.lastModified {
            return "its Last-Modified changed from \(lastModified) to \(file.lastModified ?? "none")"
        }
        if etag == nil && lastModified == nil { return "the server gives no ETag or Last-Modified to prove it is the same file" }
        return nil
    }
}

extension ResumeState {
    /// The piece plan recorded, or `nil` when it is inconsistent (a damaged control file).
    package var plan: PiecePlan? {
        guard length > 0, pieceSize > 0 else { return nil }
        if let tailStart, let tailPieceSize {
            guard tailStart >= 0, tailStart <= length, tailStart % pieceSize == 0, tailPieceSize > 0 else { return nil }
            return PiecePlan(length: length, pieceSize: pieceSize, tailStart: tailStart, tailPieceSize: tailPieceSize)
        }
        return PiecePlan(length: length, pieceSize: pieceSize)
    }
}
