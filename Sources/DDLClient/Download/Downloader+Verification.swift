import DDLCore

extension Downloader {
    /// Spot-checks `windows` of a piece `source` just delivered (`--verify-peers`). When the
    /// source is caught serving wrong bytes it is banned, everything it delivered is queued
    /// again and forgotten by the control file, and `false` is returned (its worker stops).
    func spotCheck(
        piece index: Int, windows: [ByteRange], from source: DownloadSource, among sources: [DownloadSource], verifier: PeerVerifier,
        coordinator: DownloadCoordinator, fetcher: PieceFetcher, plan: PiecePlan, doneFlags: DoneFlags, control: ControlFile,
        counters: TransferCounters, hasher: InOrderHasher
    ) async throws -> Bool {
        for window in windows {
            let kept = try await spotCheck(
                piece: index, window: window, from: source, among: sources, verifier: verifier, coordinator: coordinator, fetcher: fetcher,
                plan: plan, doneFlags: doneFlags, control: control, counters: counters, hasher: hasher)
            if !kept { return false }
        }
        return true
    }

    private func spotCheck(
        piece index: Int, window range: ByteRange, from source: DownloadSource, among sources: [DownloadSource], verifier: PeerVerifier,
        coordinator: DownloadCoordinator, fetcher: PieceFetcher, plan: PiecePlan, doneFlags: DoneFlags, control: ControlFile,
        counters: TransferCounters, hasher: InOrderHasher
    ) async throws -> Bool {
        guard let (referee, tiebreaker) = verifier.referees(for: source, among: sources, excluding: await coordinator.banned) else {
            return true
        }
        let started = ContinuousClock.now
        let verdict = try await verifier.check(
            piece: index, range: range, referee: referee, tiebreaker: tiebreaker, fetcher: fetcher, partFile: fetcher.partFile)
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
            // Another worker of the same source may have caught it first.
            guard let requeued = await coordinator.ban(source.id, doneFlags: doneFlags) else { return false }
            counters.discard(requeued.reduce(Int64(0)) { $0 + plan.range(of: $1).count })
            hasher.reset()  // it may have hashed the liar's bytes already
            try await control.markIncomplete(requeued)
            logger.info("peer banned: wrong bytes", metadata: ["source": "\(source.id)", "piece": "\(index)"])
            observer.handle(.peerBanned(
                source: source.id, reason: "bytes \(range) of piece \(index) have SHA-256 \(got) but \(referee.id) gave \(expected)", refetched: requeued.count))
            return false
        }
    }
}
