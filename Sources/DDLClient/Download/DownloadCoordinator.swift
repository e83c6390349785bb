import DDLCore

/// Shares the ``PieceScheduler`` between the download's worker tasks.
actor DownloadCoordinator {
    private var scheduler: PieceScheduler
    private let clock = ContinuousClock()

    init(scheduler: PieceScheduler) { self.scheduler = scheduler }

    func addSource(_ id: String, maxInFlight: Int, maxConsecutiveFailures: Int? = nil) {
        scheduler.addSource(id, maxInFlight: maxInFlight, maxConsecutiveFailures: maxConsecutiveFailures)
    }
    func next(for source: String) -> PieceScheduler.Assignment {
        let assignment = scheduler.next(for: source, now: clock.now)
        // Every piece is done, but a running spot check may still queue some again: stay.
        if assignment == .stop, scheduler.isComplete, verifications > 0 { return .wait(until: nil) }
        return assignment
    }
    func failed(_ piece: Int, by source: String, retryAfter: Duration? = nil) -> Bool {
        scheduler.failed(piece, by: source, now: clock.now, retryAfter: retryAfter, jitter: Double.random(in: 0.5...1.5))
        return scheduler.isDropped(source)
    }
    func cancelled(_ piece: Int, by source: String) { scheduler.cancelled(piece, by: source) }
    /// Bans `source` and re-queues what it delivered (also clearing their done flags, in
    /// the same step so no completion can slip in between).
    /// Returns `nil` when the source was already banned.
    func ban(_ source: String, doneFlags: DoneFlags) -> [Int]? {
        guard !banned.contains(source) else { return nil }
        let pieces = scheduler.ban(source)
        for piece in pieces { doneFlags.markUndone(piece) }
        banned.insert(source)
        return pieces
    }
    private(set) var banned: Set<String> = []
    /// Records a completion; `false` when refused (the source was banned meanwhile). Sets the
    /// piece's done flag in the same step.
    /// With `verifying`, a spot check of the piece starts in the same step (see
    /// ``isSettled``); end it with ``endVerification()``.
    func complete(_ piece: Int, by source: String, doneFlags: DoneFlags, verifying: Bool = false) -> Bool {
        guard !scheduler.isBanned(source) else {
            scheduler.cancelled(piece, by: source)
            return false
        }
        scheduler.completed(piece, by: source, now: clock.now)
        doneFlags.markDone(piece)
        if verifying { verifications += 1 }
        return true
    }
    /// A spot check started by ``complete(_:by:doneFlags:verifying:)`` is over.
    func endVerification() { verifications -= 1 }
    private var verifications = 0
    var isComplete: Bool { scheduler.isComplete }
    /// Every piece is done and no spot check is running that could still ban a source and
    /// queue its pieces again: the workers that are left (waiting, or fetching an endgame
    /// copy that lost) can be stopped.
    var isSettled: Bool { scheduler.isComplete && verifications == 0 }
    var completedCount: Int { scheduler.completedCount }
    func completedCount(of source: String) -> Int { scheduler.completedCount(of: source) }
}
