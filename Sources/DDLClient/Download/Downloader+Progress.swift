extension Downloader {
    /// Runs `body` while a child task reports progress periodically; `bytes` reads the bytes
    /// done, `pieces` the pieces done.
    func withProgressTicker(
        length: Int64?, pieces: Int, started: ContinuousClock.Instant, counters: TransferCounters,
        bytes: @escaping @Sendable () -> Int64, piecesDone: @escaping @Sendable () -> Int,
        _ body: @escaping @Sendable () async throws -> Void
    ) async throws {
        let observer = self.observer
        let interval: Duration = configuration.progress == .auto ? .milliseconds(250) : .seconds(1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var window = RateWindow()
                while !Task.isCancelled {
                    do { try await Task.sleep(for: interval) } catch { return }
                    let now = ContinuousClock.now
                    let done = bytes()
                    window.add(bytes: done, at: now)
                    observer.handle(.progress(ProgressSnapshot(
                        bytes: min(done, length ?? .max), length: length, elapsedSeconds: (now - started).seconds,
                        rate: window.rate, activeSources: counters.activeSources, piecesDone: piecesDone(), pieces: pieces)))
                }
            }
            defer { group.cancelAll() }
            try await body()
        }
    }
}

/// Bytes-per-second over the last few seconds.
struct RateWindow {
    private var samples: [(ContinuousClock.Instant, Int64)] = []
    private let span: Duration = .seconds(3)

    mutating func add(bytes: Int64, at time: ContinuousClock.Instant) {
        samples.append((time, bytes))
        while let first = samples.first, time - first.0 > span, samples.count > 2 { samples.removeFirst() }
    }

    var rate: Double {
        guard let first = samples.first, let last = samples.last, last.0 > first.0 else { return 0 }
        return Double(last.1 - first.1) / (last.0 - first.0).seconds
    }
}
