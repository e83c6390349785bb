import DDLCore

extension Downloader {
    /// Most spot checks running at once.
    static let concurrentSpotChecks = 4

    /// Runs the spot checks that workers queue (`--verify-peers`) beside the workers, a few
    /// at a time, so that a backlog cannot build up and hold the end of the download. Returns
    /// `true` when a check was the last thing the download waited for (see
    /// ``DownloadCoordinator/isSettled``), `false` when the queue ends first.
    func runSpotChecks(_ queue: AsyncStream<SpotCheckQueue.Item>, _ transfer: Transfer) async throws -> Bool {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for await item in queue {
                guard case let .check(check) = item else { return true }
                if running == Self.concurrentSpotChecks {
                    try await group.next()
                    running -= 1
                }
                running += 1
                group.addTask {
                    do {
                        _ = try await spotCheck(check, transfer)
                    } catch {
                        await transfer.coordinator.endVerification()
                        throw error
                    }
                    await transfer.coordinator.endVerification()
                    // Wake the loop above, which may be waiting for the next check.
                    if await transfer.coordinator.isSettled { transfer.checkQueue.yield(.settled) }
                }
            }
            try await group.waitForAll()
            return await transfer.coordinator.isSettled
        }
    }

    /// Checks each window of a piece a peer delivered. When the source is caught serving
    /// wrong bytes it is banned, everything it delivered is queued again and forgotten by the
    /// control file, and `false` is returned.
    func spotCheck(_ check: SpotCheck, _ transfer: Transfer) async throws -> Bool {
        for window in check.windows {
            if try await !spotCheck(piece: check.piece, window: window, from: check.source, transfer) { return false }
        }
        return true
    }

    private func spotCheck(piece index: Int, window range: ByteRange, from source: DownloadSource, _ transfer: Transfer) async throws -> Bool {
        let coordinator = transfer.coordinator
        guard let (referee, tiebreaker) = transfer.verifier.referees(for: source, among: transfer.sources, excluding: await coordinator.banned) else {
            return true
        }
        let started = ContinuousClock.now
        let verdict = try await transfer.verifier.check(
            piece: index, range: range, referee: referee, tiebreaker: tiebreaker, fetcher: transfer.fetcher, partFile: transfer.fetcher.partFile)
        logger.debug("spot check", metadata: [
            "source": "\(source.id)", "piece": "\(index)", "range": "\(range)", "referee": "\(referee.id)",
            "verdict": "\(verdict)", "seconds": "\((ContinuousClock.now - started).seconds)",
        ])
        switch verdict {
        case .match:
            return true
        case let .inconclusive(why):
            logger.info("spot check inconclusive", metadata: ["source": "\(source.id)", "piece": "\(index)", "reason": "\(why)"])
            return true
        case let .mismatch(expected, got):
            // Another check of the same source may have caught it first.
            guard let requeued = await coordinator.ban(source.id, doneFlags: transfer.doneFlags) else { return false }
            transfer.counters.discard(requeued.reduce(Int64(0)) { $0 + transfer.plan.range(of: $1).count })
            transfer.hasher.reset()  // it may have hashed the liar's bytes already
            try await transfer.control.markIncomplete(requeued)
            logger.info("peer banned: wrong bytes", metadata: ["source": "\(source.id)", "piece": "\(index)"])
            observer.handle(.peerBanned(
                source: source.id, reason: "bytes \(range) of piece \(index) have SHA-256 \(got) but \(referee.id) gave \(expected)",
                refetched: requeued.count))
            return false
        }
    }
}
