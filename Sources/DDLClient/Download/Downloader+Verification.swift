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

    private func spotCheck(_ check: SpotCheck, window range: ByteRange, _ transfer: Transfer) async throws -> Bool {
        let coordinator = transfer.coordinator
        let source = check.source
        guard let (referee, tiebreaker) = transfer.verifier.referees(
            for: source, among: transfer.sources, excluding: coordinator.banned, avoiding: coordinator.slowReferees)
        else {
            return true
        }
        let started = ContinuousClock.now
        let verdict = try await transfer.verifier.check(
            piece: check.piece, range: range, referee: referee, tiebreaker: tiebreaker, fetcher: transfer.fetcher, partFile: transfer.partFile)
        logger.debug("spot check", metadata: [
            "source": "\(source.id)", "piece": "\(check.piece)", "range": "\(range)", "referee": "\(referee.id)",
            "verdict": "\(verdict)", "seconds": "\((ContinuousClock.now - started).seconds)",
        ])
        switch verdict {
        case .match:
            return true
        case let .inconclusive(why):
            logger.info("spot check inconclusive", metadata: ["source": "\(source.id)", "piece": "\(check.piece)", "reason": "\(why)"])
            if case let .undelivered(by, timedOut) = why, timedOut {
                // Avoided as a referee while others are left.
                coordinator.slowReferee(by.id)
                // Without the authority there is no one else to ask for this check.
                if by.trust == .authoritative { return false }
            }
            return true
        case let .refereeLied(expected, got):
            // The referee's live answer was wrong: ban it (and re-fetch what it wrote).
            guard let requeued = coordinator.banReferee(referee.id, piece: check.piece, generation: check.generation) else { return true }
            logger.info("peer banned: wrong bytes as a referee", metadata: ["source": "\(referee.id)", "piece": "\(check.piece)"])
            observer.handle(.peerBanned(
                source: referee.id,
                reason: "as a referee it gave SHA-256 \(got) for bytes \(range), where the bytes on disk and \(tiebreaker?.id ?? "a third source") agree on \(expected)",
                refetched: requeued.count))
            return true
        case let .mismatch(expected, got):
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
