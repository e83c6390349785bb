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

/// `--verify-peers RATE`: compares windows of the bytes untrusted sources (peers, mirrors)
/// wrote with the origin's, by SHA-256, without any publisher hash. Which windows is the
/// ``SpotCheckPlanner``'s choice.
///
/// The referee is the origin, fetched by this machine, always: also with `--no-self` (a
/// window is 256 KiB), because a vote among peers is won by peers that lie together. An
/// origin that refuses (`429`, `503`) is asked again, as its `Retry-After` says. Only when the
/// origin cannot deliver the window at all do peers referee it, a vote: a second peer, and a
/// third one when the second disagrees. Every request for a window has ``deadline`` for its
/// whole answer, and a peer that misses it is not asked to referee again in the download. A
/// window nobody can settle is *not* a pass: it is reported, and the download fails unless a
/// publisher's digest vouches for the file.
struct PeerVerifier: Sendable {
    /// Fraction of each source's bytes in the stratified sample (0 disables, 1 checks all).
    let rate: Double
    /// The origin fetched by this machine: the referee of every check.
    let authority: DownloadSource
    /// The longest one request for a window may take, whole answer included (connect plus
    /// read timeout unless configured): a source that trickles cannot hold a check longer.
    let deadline: Duration
    /// Size of one checked window.
    static let window: Int64 = 256 << 10
    /// Requests for one window at the origin before it counts as unable to deliver.
    static let originAttempts = 3
    /// Peers asked for one window at most, when the origin cannot deliver it.
    static let fallbackAttempts = 3
    /// The longest wait between them, whatever `Retry-After` says.
    static let longestRetryWait: Duration = .seconds(5)

    /// Peers that may referee when the origin cannot, in random order: not `source`, not
    /// banned, and none that missed a window's deadline (`slow`). A peer that trickles its
    /// answers thus holds at most the checks that were waiting on it when it first missed
    /// one, not one deadline per window for the rest of the download (a quick failure, such
    /// as a `503`, is not held against a referee).
    func fallbackReferees(
        for source: DownloadSource, among sources: [DownloadSource], excluding banned: Set<String>, slow: Set<String> = []
    ) -> [DownloadSource] {
        sources.filter { $0 != source && $0.trust == .checked && !banned.contains($0.id) && !slow.contains($0.id) }.shuffled()
    }

    /// Outcome of one window's check.
    enum Verdict: Equatable {
        /// `referee` served the same bytes.
        case match(referee: DownloadSource)
        /// The bytes on disk are wrong: `referee` (the origin, or two peers agreeing) says so.
        case mismatch(expected: String, got: String, referee: DownloadSource)
        /// The referee (a peer) disagreed with the bytes on disk, and the tiebreaker agreed
        /// with the bytes on disk: the referee served wrong bytes.
        case refereeLied(referee: DownloadSource, tiebreaker: DownloadSource, expected: String, got: String)
        /// Nothing settled.
        case inconclusive(Inconclusive)
    }

    /// Why a check settled nothing.
    enum Inconclusive: Equatable, CustomStringConvertible {
        /// The origin could not deliver the window (`reason`) and no peer could referee.
        case noReferee(origin: String)
        /// This peer (a fallback referee or tiebreaker) could not deliver the window: it
        /// failed, or (`timedOut`) missed the deadline.
        case undelivered(by: DownloadSource, timedOut: Bool, origin: String)
        /// The fallback referee disagrees and there is no third source.
        case noTiebreaker(referee: DownloadSource, origin: String)
        /// Three sources, three answers.
        case threeAnswers(origin: String)

        var description: String {
            switch self {
            case let .noReferee(origin): "the origin could not deliver it (\(origin)) and no other source was left to compare with (banned peers and peers that missed a window's deadline are not asked)"
            case let .undelivered(by, timedOut, origin):
                "the origin could not deliver it (\(origin)), nor could \(by.id)\(timedOut ? " in time" : "")"
            case let .noTiebreaker(referee, origin):
                "the origin could not deliver it (\(origin)); \(referee.id) disagrees and no third source could settle it"
            case let .threeAnswers(origin): "the origin could not deliver it (\(origin)); three other sources gave three answers"
            }
        }
    }

    /// Compares `range` as written on disk with the origin's bytes, or, when the origin
    /// cannot deliver them, with the peers' in `fallback`, in order: the first that delivers
    /// referees, and when it disagrees, the next that delivers breaks the tie (at most
    /// ``fallbackAttempts`` peers are asked). Peers that missed the deadline are added to
    /// `slow`.
    ///
    /// An origin URL that answers as an expired signed URL does is resolved again with
    /// `refresher` (shared with the transfer) and asked again.
    func check(
        range: ByteRange, fallback: [DownloadSource], fetcher: PieceFetcher, partFile: PartFile, slow: inout [DownloadSource],
        refresher: URLRefresher? = nil
    ) async throws -> Verdict {
        let onDisk = try await partFile.sha256(of: range)
        let originFailure: String
        switch try await originDigest(range: range, fetcher: fetcher, refresher: refresher) {
        case let .delivered(reference):
            return reference == onDisk ? .match(referee: authority) : .mismatch(expected: reference, got: onDisk, referee: authority)
        case let .undelivered(why, _, _, _):
            originFailure = why
        }
        var candidates = fallback.prefix(Self.fallbackAttempts)[...]
        var failure: Inconclusive = .noReferee(origin: originFailure)
        func nextAnswer() async throws -> (DownloadSource, String)? {
            while let peer = candidates.popFirst() {
                switch try await digest(range: range, from: peer, fetcher: fetcher) {
                case let .delivered(digest): return (peer, digest)
                case let .undelivered(_, timedOut, _, _):
                    if timedOut { slow.append(peer) }
                    failure = .undelivered(by: peer, timedOut: timedOut, origin: originFailure)
                }
            }
            return nil
        }
        guard let (referee, reference) = try await nextAnswer() else { return .inconclusive(failure) }
        if reference == onDisk { return .match(referee: referee) }
        failure = .noTiebreaker(referee: referee, origin: originFailure)
        guard let (tiebreaker, third) = try await nextAnswer() else { return .inconclusive(failure) }
        if third == reference { return .mismatch(expected: reference, got: onDisk, referee: referee) }
        if third == onDisk { return .refereeLied(referee: referee, tiebreaker: tiebreaker, expected: onDisk, got: reference) }
        return .inconclusive(.threeAnswers(origin: originFailure))
    }

    /// What a source answered for a window.
    enum Answer {
        case delivered(String)
        /// It failed (`why`), or (`timedOut`) missed the deadline; `expired` holds the status
        /// and URL when it answered as an expired signed URL does.
        case undelivered(String, timedOut: Bool, retryAfter: Duration? = nil, expired: Expiry? = nil)

        static func failed(_ why: String, retryAfter: Duration? = nil) -> Answer {
            .undelivered(why, timedOut: false, retryAfter: retryAfter)
        }
    }

    /// An answer as an expired signed URL gives: its status and the URL asked.
    struct Expiry {
        let status: Int
        let url: String
    }

    /// The origin's SHA-256 of `range`, asked up to ``originAttempts`` times when it refuses
    /// or fails (a rate limit, a dropped connection), waiting what its `Retry-After` says (at
    /// most ``longestRetryWait``). A deadline missed is not retried: it was spent already. An
    /// expired signed URL is resolved again (once per attempt) and asked again at once.
    private func originDigest(range: ByteRange, fetcher: PieceFetcher, refresher: URLRefresher?) async throws -> Answer {
        var answer = Answer.failed("not asked")
        for attempt in 1...Self.originAttempts {
            answer = try await digest(range: range, from: authority, fetcher: fetcher)
            guard case let .undelivered(_, timedOut, retryAfter, expired) = answer, !timedOut, attempt < Self.originAttempts else { return answer }
            if let expired, let refresher {
                guard try await refresher.refresh(after: expired.url, status: expired.status, claimedBy: .authoritative) == .refreshed else { return answer }
                continue
            }
            try await Task.sleep(for: min(retryAfter ?? .milliseconds(500 * attempt), Self.longestRetryWait))
        }
        return answer
    }

    /// The SHA-256 of `range` from `source`: the whole fetch gets ``deadline`` (by default the
    /// time a piece's answer may take to start: connect and read timeouts), so a source that
    /// trickles cannot hold the check, and with it the end of the download, for long.
    private func digest(range: ByteRange, from source: DownloadSource, fetcher: PieceFetcher) async throws -> Answer {
        let box = DigestBox()
        let deadline = deadline
        return try await withThrowingTaskGroup(of: Answer.self) { group in
            group.addTask {
                do {
                    try await fetcher.fetch(range: range, from: source, into: .digest(box))
                    return .delivered(box.hex)
                } catch let failure as PieceFailure {
                    if case let .status(_, _, retryAfter) = failure { return .failed(failure.description, retryAfter: retryAfter) }
                    if case let .expired(status, url) = failure {
                        return .undelivered(failure.description, timedOut: false, expired: Expiry(status: status, url: url))
                    }
                    return .failed(failure.description)
                }
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                return .undelivered("no answer within \(deadline.seconds.formatted(decimals: 0)) s", timedOut: true)
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
    }
}
