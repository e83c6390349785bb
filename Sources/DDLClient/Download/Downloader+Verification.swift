import DDLCore

extension Downloader {
    /// Most spot checks running at once.
    static let concurrentSpotChecks = 4

    /// Runs the spot checks that completions queue (`--verify-peers`) beside the workers, a
    /// few at a time, so that a backlog cannot build up and hold the end of the download.
    /// Ends when the queue is finished and every check has run.
    func runSpotChecks(_ queue: AsyncStream<SpotCheck>, _ transfer: Transfer) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for await check in queue {
                if running == Self.concurrentSpotChecks {
                    try await group.next()
                    running -= 1
                }
                running += 1
                group.addTask {
                    do {
                        try await spotCheck(check, transfer)
                    } catch {
                        transfer.coordinator.endCheck(check)
                        throw error
                    }
                    transfer.coordinator.endCheck(check)
                }
            }
            try await group.waitForAll()
        }
    }

    /// Checks each window of the bytes a source wrote into a piece. When the source is caught
    /// serving wrong bytes it is banned, and every piece it wrote into is queued again.
    func spotCheck(_ check: SpotCheck, _ transfer: Transfer) async throws {
        for window in check.windows {
            if try await !spotCheck(check, window: window, transfer) { return }
        }
    }

    /// Checks one window; returns whether the rest of the check's windows still matter.
    private func spotCheck(_ check: SpotCheck, window range: ByteRange, _ transfer: Transfer) async throws -> Bool {
        let coordinator = transfer.coordinator
        let source = check.source
        let fallback = transfer.verifier.fallbackReferees(
            for: source, among: transfer.sources, excluding: coordinator.banned, slow: coordinator.slowReferees)
        let started = ContinuousClock.now
        var slow: [DownloadSource] = []
        let verdict = try await transfer.verifier.check(
            range: range, fallback: fallback, fetcher: transfer.fetcher, partFile: transfer.partFile, slow: &slow, refresher: transfer.refresher)
        // Not asked to referee again in this download.
        for peer in slow { coordinator.slowReferee(peer.id) }
        logger.debug("spot check", metadata: [
            "source": "\(source.id)", "piece": "\(check.piece)", "range": "\(range)", "verdict": "\(verdict)",
            "seconds": "\((ContinuousClock.now - started).seconds)",
        ])
        var report = SpotCheckReport(source: source.id, piece: check.piece, first: range.first, last: range.last, outcome: .confirmed)
        defer {
            coordinator.record(report, generation: check.generation)
            observer.handle(.spotCheck(report))
        }
        switch verdict {
        case let .match(referee):
            report.referee = referee.id
            return true
        case let .inconclusive(why):
            report.outcome = .inconclusive
            report.reason = why.description
            logger.warning("spot check inconclusive", metadata: ["source": "\(source.id)", "piece": "\(check.piece)", "range": "\(range)", "reason": "\(why)"])
            return true
        case let .refereeLied(referee, tiebreaker, expected, got):
            report.referee = referee.id
            report.outcome = .refereeCaught
            // The referee's live answer was wrong: ban it (and re-fetch what it wrote).
            guard let requeued = coordinator.banReferee(referee.id, piece: check.piece, generation: check.generation) else { return true }
            logger.info("peer banned: wrong bytes as a referee", metadata: ["source": "\(referee.id)", "piece": "\(check.piece)"])
            observer.handle(.peerBanned(
                source: referee.id,
                reason: "as a referee it gave SHA-256 \(got) for bytes \(range), where the bytes on disk and \(tiebreaker.id) agree on \(expected)",
                refetched: requeued.count))
            return true
        case let .mismatch(expected, got, referee):
            report.referee = referee.id
            report.outcome = .caught
            // Nothing to do when another check caught it first, or when the bytes were
            // thrown away meanwhile (a ban of another source reset the piece).
            guard let requeued = coordinator.ban(source.id, piece: check.piece, generation: check.generation) else { return false }
            logger.info("peer banned: wrong bytes", metadata: ["source": "\(source.id)", "piece": "\(check.piece)"])
            observer.handle(.peerBanned(
                source: source.id, reason: "bytes \(range) of piece \(check.piece) have SHA-256 \(got) but \(referee.id) gave \(expected)",
                refetched: requeued.count))
            return false
        }
    }
}
