import DDLCore

/// Everything the tasks of one segmented transfer share.
struct Transfer: Sendable {
    let plan: PiecePlan
    let sources: [DownloadSource]
    let coordinator: DownloadCoordinator
    let fetcher: PieceFetcher
    let partFile: PartFile
    let counters: TransferCounters
    let hasher: InOrderHasher
    let verifier: PeerVerifier
    /// Resolves the user's URL again when the pinned one expires.
    let refresher: URLRefresher
    let started: ContinuousClock.Instant
}

/// A spot check to run: `windows` of `piece` (at `generation`), bytes `source` wrote.
struct SpotCheck: Sendable {
    let piece: Int
    let generation: Int
    let windows: [ByteRange]
    let source: DownloadSource
}
