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

/// `--verify-peers RATE`: spot-checks a random sample of the bytes each peer delivered
/// against a second source by SHA-256, without any publisher hash.
///
/// The sample is made of windows of ``window`` bytes at random places in the pieces, about
/// `RATE` of each peer's bytes: many small checks rather than a few whole pieces, so a peer
/// that lies in many places is caught sooner for the same traffic, and a check that lands at
/// the very end of a download holds it up for one short window, not a whole piece.
/// The second source is the origin when this machine downloads too, else another peer.
struct PeerVerifier: Sendable {
    /// Fraction of each peer's bytes to check (0 disables, 1 or more checks everything).
    let rate: Double
    /// The origin fetched by this machine, when it downloads too: the referee of every check.
    let authority: DownloadSource?
    /// Size of one checked window.
    static let window: Int64 = 256 << 10

    /// The windows of `range` (a piece `source` delivered) to check; empty for none.
    func windows(for source: DownloadSource, in range: ByteRange) -> [ByteRange] {
        guard source.trust == .checked else { return [] }
        var generator = SystemRandomNumberGenerator()
        return SpotCheckSample.windows(in: range, rate: rate, window: Self.window, using: &generator)
    }

    /// The source to compare against (and, for a peer referee, a third one to break a
    /// tie), or `nil` when there is none.
    /// A source that missed a window's deadline (`slow`) is never the referee again, so it
    /// cannot hold every check for its deadline; it may still break a tie.
    func referees(
        for source: DownloadSource, among sources: [DownloadSource], excluding banned: Set<String>, avoiding slow: Set<String> = []
    ) -> (DownloadSource, DownloadSource?)? {
        if let authority { return (authority, nil) }
        let candidates = sources.filter { $0 != source && $0.trust == .checked && !banned.contains($0.id) }
        let ordered = candidates.filter { !slow.contains($0.id) }.shuffled() + candidates.filter { slow.contains($0.id) }.shuffled()
        guard let first = ordered.first, !slow.contains(first.id) else { return nil }
        return (first, ordered.dropFirst().first)
    }

    /// Outcome of one spot check.
    enum Verdict: Equatable {
        case match
        case mismatch(expected: String, got: String)
        /// The referee (a peer) disagreed with the bytes on disk, and the tiebreaker agreed
        /// with the bytes on disk: the referee served wrong bytes.
        case refereeLied(expected: String, got: String)
        /// Nothing learned.
        case inconclusive(Inconclusive)
    }

    /// Why a check learned nothing.
    enum Inconclusive: Equatable, CustomStringConvertible {
        /// This source (the referee or the tiebreaker) could not deliver the window: it
        /// failed, or (`timedOut`) missed the deadline.
        case undelivered(by: DownloadSource, timedOut: Bool)
        /// The referee disagrees and there is no third source.
        case noTiebreaker(referee: DownloadSource)
        /// Three sources, three answers.
        case threeAnswers

        var description: String {
            switch self {
            case let .undelivered(by, timedOut): "\(by.id) could not deliver the window\(timedOut ? " in time" : "")"
            case let .noTiebreaker(referee): "\(referee.id) disagrees and no third source could settle it"
            case .threeAnswers: "three sources, three answers"
            }
        }
    }

    /// Compares `range` (a window of `piece`) as written on disk with a fresh copy from
    /// `referee`. When the referee is itself a peer and disagrees, a third source
    /// (`tiebreaker`) decides: with the referee, the bytes on disk are wrong; with the bytes
    /// on disk, the referee lied; with neither (or without a third source) it is
    /// inconclusive.
    func check(
        piece: Int, range: ByteRange, referee: DownloadSource, tiebreaker: DownloadSource?, fetcher: PieceFetcher, partFile: PartFile
    ) async throws -> Verdict {
        let onDisk = try await partFile.sha256(of: range)
        let reference: String
        switch try await digest(range: range, from: referee, fetcher: fetcher) {
        case let .delivered(digest): reference = digest
        case let .undelivered(timedOut): return .inconclusive(.undelivered(by: referee, timedOut: timedOut))
        }
        if reference == onDisk { return .match }
        if referee.trust == .authoritative { return .mismatch(expected: reference, got: onDisk) }
        guard let tiebreaker else { return .inconclusive(.noTiebreaker(referee: referee)) }
        let third: String
        switch try await digest(range: range, from: tiebreaker, fetcher: fetcher) {
        case let .delivered(digest): third = digest
        case let .undelivered(timedOut): return .inconclusive(.undelivered(by: tiebreaker, timedOut: timedOut))
        }
        if third == reference { return .mismatch(expected: reference, got: onDisk) }
        if third == onDisk { return .refereeLied(expected: onDisk, got: reference) }
        return .inconclusive(.threeAnswers)
    }

    /// What a source answered for a window.
    enum Answer {
        case delivered(String)
        /// It failed, or (`timedOut`) missed the deadline.
        case undelivered(timedOut: Bool)
    }

    /// The SHA-256 of `range` from `source`: the whole fetch gets the time a piece's answer
    /// may take to start (connect and read timeouts), so a referee that trickles cannot hold
    /// the check, and with it the end of the download, for long.
    private func digest(range: ByteRange, from source: DownloadSource, fetcher: PieceFetcher) async throws -> Answer {
        let box = DigestBox()
        let deadline = Duration.nanoseconds(fetcher.headTimeout.nanoseconds)
        return try await withThrowingTaskGroup(of: Answer.self) { group in
            group.addTask {
                do {
                    try await fetcher.fetch(range: range, from: source, into: .digest(box))
                    return .delivered(box.hex)
                } catch is PieceFailure {
                    return .undelivered(timedOut: false)
                }
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                return .undelivered(timedOut: true)
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
    }
}
