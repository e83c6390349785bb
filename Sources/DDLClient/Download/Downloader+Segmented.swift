import DDLCore

extension Downloader {
    /// A download in pieces from every source into `<file>.part`, with a control file to
    /// resume from.
    func segmentedDownload(
        file: RemoteFile, length: Int64, path: String, startOver: Bool, digests: DigestLookup, started: ContinuousClock.Instant
    ) async throws -> DownloadSummary {
        let partPath = path + ".part"
        let controlPath = path + ".ddl"
        let origin = PinnedFile(file)
        let mirrors = configuration.mirrors.isEmpty ? [] : await probeMirrors(of: file)
        let sources = try await chooseSources(origin: origin, mirrors: mirrors)
        let (plan, completed) = try planPieces(file: file, length: length, sources: sources, partPath: partPath, controlPath: controlPath, startOver: startOver)
        let partFile = try PartFile(creating: partPath, length: length, keepContents: !completed.isEmpty)
        defer { partFile.close() }
        let seeder = await localSeeder(among: sources)
        _ = await seeder?.offer(origin.current, length: length, path: partPath, complete: false)
        let control = ControlFile(path: controlPath, state: ResumeState(
            url: configuration.url, file: file, plan: plan, completed: completed, ignoring: configuration.cacheKeyIgnoreParams), pieceCount: plan.count)
        try await control.save()
        let mode = sources.contains(where: { $0.kind is PeerSource }) ? "swarm" : "direct"
        observer.handle(.started(DownloadStart(
            url: URLIdentity.printable(file.url), path: path, length: length, pieceSize: plan.pieceSize, pieces: plan.count, sources: sources.map(\.id), mode: mode)))
        let counters = TransferCounters()
        // The origin referees every spot check, also when this machine fetches no piece.
        let authority = sources.first { $0.trust == .authoritative } ?? DownloadSource(OriginSource(pinned: origin))
        // The time an answer may take to start: connect plus read timeout.
        let answerTimeout = Duration.seconds(configuration.connectTimeoutSeconds + configuration.readTimeoutSeconds)
        let verifier = PeerVerifier(rate: configuration.verifyPeersRate, authority: authority, deadline: configuration.spotCheckDeadline ?? answerTimeout)
        let fetcher = PieceFetcher(httpClient: httpClient, swarmClient: swarmClient, counters: counters, logger: logger, headTimeout: .init(answerTimeout))
        let holdings = await cacheHoldings(of: file, sources: sources)
        let owners = Self.owners(plan: plan, file: file, sources: sources, holdings: holdings, ignoring: configuration.cacheKeyIgnoreParams)
        let warm = Self.warmth(plan: plan, owners: owners, holdings: holdings)
        if warm == true { logger.info("the peers' caches hold the file", metadata: ["peers": "\(holdings.count)"]) }
        if let owners {
            // Who owns which piece (for a fan-out's analysis of who fetched what: bench/fanout-origin).
            logger.debug("piece owners", metadata: ["owners": "\(owners.map { $0 ?? "-" }.joined(separator: ","))"])
        }
        var round = Round(completed: completed, sources: sources)
        var check: EndCheck
        while true {
            let result = try await transferPieces(
                origin: origin, plan: plan, completed: round.completed, sources: round.sources, partFile: partFile, control: control,
                counters: counters, verifier: verifier, fetcher: fetcher, hashing: digests.algorithmDuringTransfer, owners: owners, warm: warm, digests: digests, started: started)
            round.add(result)
            check = try await endCheck(lookup: digests, partFile: partFile, hashed: result.digests)
            guard case let .mismatch(expected, got) = check.verdict, round.repairs < Self.maxRepairs else { break }
            // The file is wrong: find which bytes, and fetch only those again.
            guard try await repair(
                &round, expected: expected, got: got, suspects: result.suspects, plan: plan, verifier: verifier, fetcher: fetcher,
                partFile: partFile, control: control)
            else { break }
        }
        return try await finish(Finishing(
            file: file, path: path, partFile: partFile, control: control, mode: mode, started: started, bytes: length,
            traffic: counters.bySource, cached: counters.cachedBySource, pieces: round.pieces, banned: round.banned.sorted(), checks: round.checks, unverified: round.unverified,
            lookup: digests, digests: check.digests, endCheck: check, repaired: round.repaired, seeder: seeder, seedFile: origin.current))
    }

    /// Whether a publisher's digest shrinks the spot-check sample (not when the user set
    /// `--verify-peers`).
    var vouchedSampling: Bool { configuration.shrinkSampleWithDigest }

    private func transferPieces(
        origin: PinnedFile, plan: PiecePlan, completed: Set<Int>, sources: [DownloadSource], partFile: PartFile, control: ControlFile,
        counters: TransferCounters, verifier: PeerVerifier, fetcher: PieceFetcher, hashing extra: ExpectedChecksum.Algorithm?,
        owners: [String?]?, warm: Bool?, digests: DigestLookup, started: ContinuousClock.Instant
    ) async throws -> TransferResult {
        let hasher = InOrderHasher(plan: plan, partFile: partFile, sha256: configuration.computeSHA256, extra: extra)
        let (checks, checkQueue) = AsyncStream.makeStream(of: SpotCheck.self)
        let (completions, pieceCompleted) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let (saves, persistable) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let coordinator = DownloadCoordinator(
            plan: plan, completed: completed, sources: sources, verifier: verifier, checks: checkQueue, pieceCompleted: pieceCompleted,
            persistable: persistable, owners: owners, warm: warm, onReset: { hasher.reset() })
        for source in sources {
            coordinator.addSource(
                source.id, maxInFlight: slots(for: source, among: sources), maxConsecutiveFailures: source.kind.maxConsecutiveFailures,
                stealsOnlyWhenCold: !(source.kind is PeerSource))
        }
        let transfer = Transfer(
            plan: plan, sources: sources, coordinator: coordinator, fetcher: fetcher, partFile: partFile, counters: counters, hasher: hasher,
            verifier: verifier,
            refresher: URLRefresher(
                userURL: configuration.url, pinned: origin, probe: OriginProbe(httpClient: httpClient, logger: logger),
                onRefresh: { [observer] in observer.handle(.notice($0)) }),
            started: started)
        let isDone: @Sendable (Int) -> Bool = { coordinator.isDone($0) }

        do {
            try await withProgressTicker(
                length: plan.length, pieces: plan.count, started: started, counters: counters,
                bytes: { coordinator.writtenBytes }, piecesDone: { coordinator.completedCount }
            ) {
                try await withThrowingTaskGroup(of: Void.self) { background in
                    // Hash the file from the front as pieces complete; record completed
                    // pieces once they are on disk.
                    background.addTask { for await _ in completions { try await hasher.advance(isDone: isDone) } }
                    background.addTask { for await _ in saves { try await persist(coordinator, partFile: partFile, control: control) } }
                    if vouchedSampling, verifier.rate < 1 {
                        // Once the publisher's digest is known, it decides; the sample shrinks.
                        if !digests.known.isEmpty {
                            coordinator.vouch()
                        } else {
                            background.addTask { if !(try await digests.all()).isEmpty { coordinator.vouch() } }
                        }
                    }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await runSpotChecks(checks, transfer) }
                        group.addTask {
                            // The workers stop once the download is settled (or every source
                            // is gone): then no more checks can come.
                            defer { checkQueue.finish() }
                            try await runWorkers(transfer)
                        }
                        try await group.waitForAll()
                    }
                    background.cancelAll()
                }
            }
        } catch {
            // Interrupted or failed: keep what is safely on disk for a resume.
            try? await persist(coordinator, partFile: partFile, control: control)
            throw error
        }
        guard coordinator.isComplete else {
            try? await persist(coordinator, partFile: partFile, control: control)
            throw DownloadError.network("every source failed; \(coordinator.completedCount) of \(plan.count) pieces were downloaded (run again to retry)")
        }
        let unverified = coordinator.unverifiedRanges
        if !unverified.isEmpty {
            // The download may fail for them: record everything else for a resume.
            try? await persist(coordinator, partFile: partFile, control: control)
        }
        var pieces: [String: Int] = [:]
        for source in sources { pieces[source.id] = coordinator.completedCount(of: source.id) }
        return TransferResult(
            pieces: pieces, banned: coordinator.banned, checks: coordinator.checkOutcomes, unverified: unverified,
            suspects: coordinator.suspects, digests: try await hasher.finish(isDone: isDone))
    }

    /// Records in the control file the pieces whose bytes are on disk: syncs the part file's
    /// data first, then saves the pieces that were complete (and not under a spot check)
    /// before the sync and still are, at the same generation.
    func persist(_ coordinator: DownloadCoordinator, partFile: PartFile, control: ControlFile) async throws {
        let snapshot = coordinator.persistablePieces
        try await partFile.sync(dataOnly: true)
        try await control.save(completed: coordinator.stillPersistable(snapshot))
    }

    /// Runs a worker per slot of every source until the download is settled or no source is
    /// left.
    private func runWorkers(_ transfer: Transfer) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for source in transfer.sources {
                for _ in 0..<slots(for: source, among: transfer.sources) {
                    group.addTask { try await work(source: source, transfer) }
                }
            }
            try await group.waitForAll()
        }
    }

    /// One worker slot of one source: takes pieces until the coordinator says stop, and waits
    /// (for a change, or a time the scheduler names) when there is nothing to do.
    private func work(source: DownloadSource, _ transfer: Transfer) async throws {
        let id = source.id
        let coordinator = transfer.coordinator
        while true {
            try Task.checkCancellation()
            switch coordinator.next(for: id) {
            case .stop:
                return
            case let .wait(until, version):
                try await coordinator.waitForChange(since: version, until: until)
            case let .job(job):
                transfer.counters.began(id)
                defer { transfer.counters.ended(id) }
                let pieceStarted = ContinuousClock.now
                let piece = transfer.plan.range(of: job.piece)
                let writer = PieceWriter(coordinator: coordinator, partFile: transfer.partFile, piece: job.piece, pieceStart: piece.first, source: id)
                logger.debug("piece copy started", metadata: [
                    "piece": "\(job.piece)", "source": "\(id)", "from": "\(job.start)", "duplicate": "\(job.duplicate)",
                    "at": "\((pieceStarted - transfer.started).seconds)",
                ])
                do {
                    try await fetch(ByteRange(first: piece.first + job.start, last: piece.last), from: source, into: writer, unless: job.cancel, transfer.fetcher)
                    coordinator.released(job.piece, by: id)
                    logger.debug("piece copy done", metadata: [
                        "piece": "\(job.piece)", "source": "\(id)", "from": "\(job.start)", "duplicate": "\(job.duplicate)",
                        "seconds": "\((ContinuousClock.now - pieceStarted).seconds)", "at": "\((ContinuousClock.now - transfer.started).seconds)",
                    ])
                } catch PieceFailure.superseded {
                    coordinator.released(job.piece, by: id)
                    logger.debug("piece copy superseded", metadata: [
                        "piece": "\(job.piece)", "source": "\(id)", "at": "\((ContinuousClock.now - transfer.started).seconds)",
                    ])
                } catch let PieceFailure.expired(status, url) {
                    coordinator.released(job.piece, by: id)
                    // The next copy uses the new URL. An expiry that resolving again does not
                    // cure is the origin's verdict; a peer's claim of one is its own failure.
                    guard try await transfer.refresher.refresh(after: url, status: status, claimedBy: source.trust) == .unchanged else { continue }
                    if source.trust == .authoritative {
                        throw DownloadError.origin("the origin answered HTTP \(status) for \(URLIdentity.printable(url))", status: status)
                    }
                    let failure = PieceFailure.status(status, originStatus: status, retryAfter: nil)
                    observer.handle(.pieceFailed(piece: job.piece, source: id, reason: failure.description))
                    if coordinator.failed(job.piece, by: id, retryAfter: nil) { observer.handle(.sourceDropped(source: id)) }
                } catch let failure as PieceFailure {
                    logger.info("piece failed", metadata: ["piece": "\(job.piece)", "source": "\(id)", "reason": "\(failure)"])
                    observer.handle(.pieceFailed(piece: job.piece, source: id, reason: failure.description))
                    var retryAfter: Duration?
                    if case let .status(_, _, after) = failure { retryAfter = after }
                    if coordinator.failed(job.piece, by: id, retryAfter: retryAfter) {
                        observer.handle(.sourceDropped(source: id))
                    }
                } catch {
                    coordinator.released(job.piece, by: id)
                    throw error
                }
            }
        }
    }

    /// Fetches `range` into `writer`, and stops as soon as `cancel` fires (another copy won,
    /// or a ban reset the piece): the request is cancelled even while it is still connecting.
    private func fetch(_ range: ByteRange, from source: DownloadSource, into writer: PieceWriter, unless cancel: OneShot, _ fetcher: PieceFetcher) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await fetcher.fetch(range: range, from: source, into: .piece(writer))
                return true
            }
            group.addTask {
                await cancel.wait()
                return false
            }
            let fetched = try await group.next()!
            group.cancelAll()
            if !fetched { throw PieceFailure.superseded }
        }
    }
}
