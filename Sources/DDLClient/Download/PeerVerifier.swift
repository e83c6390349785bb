import Crypto
import DDLCore
import NIOCore
import Synchronization

/// A SHA-256 being fed from a stream.
final class DigestBox: Sendable {
    private let hasher = Mutex(SHA256())
    func update(_ buffer: ByteBuffer) {
        hasher.withLock { hasher in buffer.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) } }
    }
    var hex: String { hasher.withLock { $0.finalize().hexString } }
}

/// `--verify-peers RATE`: spot-checks a random sample of the pieces each peer delivered
/// against a second source by SHA-256, without any publisher hash.
///
/// The second source is the origin when this machine downloads too, else another peer.
struct PeerVerifier: Sendable {
    /// Fraction of each peer's pieces to check (0 disables).
    let rate: Double
    let useSelf: Bool

    /// Whether to check this piece from `source`.
    func shouldVerify(_ source: DownloadSource) -> Bool {
        guard case .peer = source, rate > 0 else { return false }
        return rate >= 1 || Double.random(in: 0..<1) < rate
    }

    /// The source to compare against (and, for a peer referee, a third one to break a
    /// tie), or `nil` when there is none.
    func referees(for source: DownloadSource, among sources: [DownloadSource], excluding banned: Set<String>) -> (DownloadSource, DownloadSource?)? {
        if useSelf { return (.direct, nil) }
        let others = sources.filter { $0 != source && $0 != .direct && !banned.contains($0.id) }.shuffled()
        guard let first = others.first else { return nil }
        return (first, others.dropFirst().first)
    }

    /// Outcome of one spot check.
    enum Verdict: Equatable {
        case match
        case mismatch(expected: String, got: String)
        /// The referee could not deliver; nothing learned.
        case inconclusive(String)
    }

    /// Compares the piece as written on disk with a fresh copy from `referee`. When the
    /// referee is itself a peer and disagrees, a third source (`tiebreaker`) must agree with
    /// the referee before the verdict is a mismatch; without one it is inconclusive.
    func check(
        piece: Int, range: ByteRange, referee: DownloadSource, tiebreaker: DownloadSource?, fetcher: PieceFetcher, partFile: PartFile
    ) async throws -> Verdict {
        let onDisk = try await partFile.sha256(of: range)
        guard let reference = try await digest(piece: piece, range: range, from: referee, fetcher: fetcher) else {
            return .inconclusive("\(referee.id) could not deliver piece \(piece)")
        }
        if reference == onDisk { return .match }
        if referee == .direct { return .mismatch(expected: reference, got: onDisk) }
        guard let tiebreaker, let third = try await digest(piece: piece, range: range, from: tiebreaker, fetcher: fetcher) else {
            return .inconclusive("\(referee.id) disagrees and no third source could settle it")
        }
        return third == reference ? .mismatch(expected: reference, got: onDisk) : .inconclusive("three sources, three answers")
    }

    private func digest(piece: Int, range: ByteRange, from source: DownloadSource, fetcher: PieceFetcher) async throws -> String? {
        let box = DigestBox()
        do {
            try await fetcher.fetch(piece: piece, range: range, from: source, into: .digest(box))
        } catch is PieceFailure {
            return nil
        }
        return box.hex
    }
}
