/// Events a download reports, rendered as a bar, plain lines or NDJSON.
public enum DownloadEvent: Sendable {
    /// The origin was probed and the plan made.
    case started(DownloadStart)
    /// A notice worth showing the user (fallback to direct mode, and so on).
    case notice(String)
    /// Periodic progress.
    case progress(ProgressSnapshot)
    /// A piece failed at a source and went back to the queue.
    case pieceFailed(piece: Int, source: String, reason: String)
    /// A source was dropped from this download.
    case sourceDropped(source: String)
    /// A peer was caught serving wrong bytes: banned, and the pieces it delivered re-fetched.
    case peerBanned(source: String, reason: String, refetched: Int)
    /// A window of a source's bytes was spot-checked (`--verify-peers`).
    case spotCheck(SpotCheckReport)
    /// The download finished.
    case finished(DownloadSummary)
}

/// What is about to be downloaded, and how.
public struct DownloadStart: Sendable, Hashable, Codable {
    public var url: String
    public var path: String
    public var length: Int64?
    public var pieceSize: Int64?
    public var pieces: Int
    public var sources: [String]
    public var mode: String
}

/// A moment's view of the download.
public struct ProgressSnapshot: Sendable, Hashable, Codable {
    public var bytes: Int64
    public var length: Int64?
    public var elapsedSeconds: Double
    /// Recent rate in bytes per second.
    public var rate: Double
    public var activeSources: Int
    public var piecesDone: Int
    public var pieces: Int

    /// Seconds left at the recent rate, when known.
    public var etaSeconds: Double? {
        guard let length, rate > 0 else { return nil }
        return Double(max(0, length - bytes)) / rate
    }
}

/// The outcome of a finished download.
public struct DownloadSummary: Sendable, Hashable, Codable {
    /// One source's share.
    public struct SourceShare: Sendable, Hashable, Codable {
        public var source: String
        public var bytes: Int64
        /// Of ``bytes``, those its peer served from its cache or from a fetch another
        /// client's request had started (single flight): bytes that did not cross the
        /// internet again for this download.
        public var cachedBytes: Int64 = 0
        public var pieces: Int
        /// How the spot checks of its bytes came out; `nil` for a source that is not checked
        /// (the origin) and was never asked to referee by a fallback vote.
        public var checks: CheckOutcomes?
    }

    public var url: String
    public var path: String
    public var bytes: Int64
    public var seconds: Double
    /// Lowercase hex SHA-256 of the file; `nil` when not computed (`--no-sha256`).
    public var sha256: String?
    public var mode: String
    public var sources: [SourceShare]
    /// Peers banned for serving wrong bytes (``ClientConfiguration/verifyPeersRate``).
    public var banned: [String] = []
    /// Whether the file was checked against a digest from its publisher (or the user), and
    /// which.
    public var integrity: IntegrityReport = .notChecked
    /// Published digests that disagree with the file or with each other, one sentence each
    /// (the download was checked against ``integrity``'s digest and passed).
    public var digestConflicts: [String] = []
    /// Pieces fetched again after the end check failed and the wrong bytes were found
    /// (repair in place instead of a new download).
    public var repairedPieces = 0
    /// Bytes of the file that this machine's peer serves to the swarm from the file itself
    /// (see ``ClientConfiguration/seed``); `nil` when it does not.
    public var seededBytes: Int64?

    /// Bytes the sources served from LAN caches: internet traffic this download saved.
    public var cachedBytes: Int64 { sources.reduce(0) { $0 + $1.cachedBytes } }
    /// Bytes fetched from the origin (and mirrors) for this download, by this machine or by
    /// peers: everything the sources sent that no cache served.
    public var originBytes: Int64 { sources.reduce(0) { $0 + $1.bytes - $1.cachedBytes } }

    /// Average rate in bytes per second.
    public var averageRate: Double { seconds > 0 ? Double(bytes) / seconds : 0 }
}

/// How a finished download was checked against a digest.
public enum IntegrityReport: Sendable, Hashable, Codable {
    /// The file has this digest, from this source (`--checksum`, a header such as
    /// `Repr-Digest`, a checksum file such as `SHA256SUMS`).
    case verified(algorithm: String, source: String)
    /// `--checksum auto` found no digest published for the file.
    case notPublished
    /// `--checksum none`: no digest was looked for.
    case notChecked
}

/// Receives download events. Implementations must be cheap: they are called from the
/// download's tasks.
public protocol DownloadObserver: Sendable {
    func handle(_ event: DownloadEvent)
}

/// Discards events.
public struct SilentObserver: DownloadObserver {
    public init() {}
    public func handle(_ event: DownloadEvent) {}
}
