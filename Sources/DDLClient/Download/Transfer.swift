import DDLCore

/// Everything the tasks of one segmented transfer share.
struct Transfer: Sendable {
    let plan: PiecePlan
    let sources: [DownloadSource]
    let coordinator: DownloadCoordinator
    let fetcher: PieceFetcher
    let doneFlags: DoneFlags
    let control: ControlFile
    let counters: TransferCounters
    let hasher: InOrderHasher
    let verifier: PeerVerifier
    /// Where workers queue the spot checks of pieces they delivered.
    let checkQueue: AsyncStream<SpotCheckQueue.Item>.Continuation
    let started: ContinuousClock.Instant
}

/// The queue between the workers and the spot checks.
enum SpotCheckQueue {
    enum Item: Sendable {
        /// A check to run.
        case check(SpotCheck)
        /// A finished check was the last thing the download waited for.
        case settled
    }
}

/// A spot check to run: `windows` of `piece`, which `source` delivered.
struct SpotCheck: Sendable {
    let piece: Int
    let windows: [ByteRange]
    let source: DownloadSource
}
