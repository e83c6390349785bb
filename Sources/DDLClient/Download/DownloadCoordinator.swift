import DDLCore

/// Shares the ``PieceScheduler`` between the download's worker tasks.
actor DownloadCoordinator {
    private var scheduler: PieceScheduler
    private let clock = ContinuousClock()

    init(scheduler: PieceScheduler) { self.scheduler = scheduler }

    func addSource(_ id: String, maxInFlight: Int, maxConsecutiveFailures: Int? = nil) {
        scheduler.addSource(id, maxInFlight: maxInFlight, maxConsecutiveFailures: maxConsecutiveFailures)
    }
    func next(for source: String) -> PieceScheduler.Assignment { scheduler.next(for: source, now: clock.now) }
    func completed(_ piece: Int, by source: String) -> [String] { scheduler.completed(piece, by: source, now: clock.now) }
    func failed(_ piece: Int, by source: String, retryAfter: Duration? = nil) -> Bool {
        scheduler.failed(piece, by: source, now: clock.now, retryAfter: retryAfter, jitter: Double.random(in: 0.5...1.5))
        return scheduler.isDropped(source)
    }
    func cancelled(_ piece: Int, by source: String) { scheduler.cancelled(piece, by: source) }
    func drop(_ source: String) { scheduler.drop(source) }
    var isComplete: Bool { scheduler.isComplete }
    var isStuck: Bool { scheduler.isStuck }
    var completedCount: Int { scheduler.completedCount }
    func completedCount(of source: String) -> Int { scheduler.completedCount(of: source) }
}
