import AsyncHTTPClient
import DDLCore
import Logging
import NIOCore

/// Runs one download: probe, plan, fetch pieces from the sources through a dynamic work
/// queue into `<file>.part`, verify, rename.
public struct Downloader: Sendable {
    public let configuration: ClientConfiguration
    public let httpClient: HTTPClient
    public let logger: Logger
    public let observer: any DownloadObserver

    /// - Parameter httpClient: used for the origin, the peers and the tracker; the caller
    ///   shuts it down. ``makeHTTPClient(configuration:)`` makes a suitable one.
    public init(configuration: ClientConfiguration, httpClient: HTTPClient, logger: Logger, observer: any DownloadObserver = SilentObserver()) {
        self.configuration = configuration
        self.httpClient = httpClient
        self.logger = logger
        self.observer = observer
    }

    /// An `HTTPClient` for downloads: keep-alive pools, redirects followed, no
    /// decompression, a read timeout that catches stalled pieces.
    public static func makeHTTPClient(configuration: ClientConfiguration) -> HTTPClient {
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .follow(max: 10, allowCycles: false)
        config.timeout = .init(connect: .seconds(Int64(configuration.connectTimeoutSeconds)), read: .seconds(Int64(configuration.readTimeoutSeconds)))
        config.decompression = .disabled
        config.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, configuration.connections + 2))
        // A refused connection fails the piece at once (it is retried elsewhere) instead of
        // being retried inside the pool until the connect timeout.
        config.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// Downloads the file; returns the summary or throws a ``DownloadError``.
    public func run() async throws(DownloadError) -> DownloadSummary {
        do {
            return try await runUnchecked()
        } catch let error as DownloadError {
            throw error
        } catch is CancellationError {
            throw .interrupted
        } catch {
            throw .network(String(describing: error))
        }
    }

    private func runUnchecked() async throws -> DownloadSummary {
        guard configuration.connections >= 1, configuration.connections <= 64 else {
            throw DownloadError.usage("--connections must be between 1 and 64")
        }
        var restarts = 0
        while true {
            do {
                return try await attempt(startOver: restarts > 0)
            } catch let error as DownloadError {
                guard case .changed = error, configuration.restartOnChange, restarts < 3 else { throw error }
                restarts += 1
                observer.handle(.notice("\(error.description): starting over (--restart-on-change)"))
            }
        }
    }

    /// One whole download attempt. `startOver` ignores any saved state.
    private func attempt(startOver: Bool) async throws -> DownloadSummary {
        let started = ContinuousClock.now
        let file = try await OriginProbe(httpClient: httpClient, logger: logger).probe(configuration.url)
        let path = try OutputPath.resolve(configuration: configuration, suggestedName: file.suggestedName)
        let partPath = path + ".part"
        let controlPath = path + ".ddl"
        logger.info("probed origin", metadata: ["url": "\(file.url)", "length": "\(file.length.map(String.init) ?? "unknown")", "ranges": "\(file.acceptsRanges)"])

        let counters = TransferCounters()
        let mode: String
        var pieces: [String: Int] = [:]
        var banned: [String] = []
        var hashed: Digests?
        let partFile: PartFile
        var control: ControlFile?
        if file.supportsSegmentedDownload, let length = file.length {
            let sources = try await chooseSources()
            var plan = configuration.pieceSize.map { PiecePlan(length: length, pieceSize: $0) }
                ?? PiecePlan.automatic(length: length, sources: sources.count == 1 && sources[0] == .direct ? configuration.connections : sources.count)
            var completed: Set<Int> = []
            if configuration.resume && !startOver, FileSystemChecks.isRegularFile(partPath), let saved = ControlFile.load(path: controlPath),
               saved.url == configuration.url || saved.finalURL == file.url {
                if let why = saved.mismatch(with: file) {
                    guard configuration.restartOnChange else {
                        throw DownloadError.changed("cannot resume \(partPath): the file changed on the server since the partial download (\(why)); run with --no-resume to start over")
                    }
                    observer.handle(.notice("the file changed on the server since the partial download (\(why)): starting over"))
                } else if let savedPlan = saved.plan {
                    plan = savedPlan
                    completed = saved.completedPieces(count: plan.count)
                    observer.handle(.notice("resuming \(partPath): \(completed.count) of \(plan.count) pieces already downloaded"))
                }
            }
            partFile = try PartFile(creating: partPath, length: length, keepContents: !completed.isEmpty)
            let state = ResumeState(url: configuration.url, file: file, plan: plan, completed: completed)
            control = ControlFile(path: controlPath, state: state, pieceCount: plan.count)
            try await control!.save()
            mode = sources.contains(where: { $0 != .direct }) ? "swarm" : "direct"
            observer.handle(.started(DownloadStart(
                url: file.url, path: path, length: length, pieceSize: plan.pieceSize, pieces: plan.count,
                sources: sources.map(\.id), mode: mode)))
            do {
                (pieces, banned, hashed) = try await transferPieces(
                    file: file, plan: plan, completed: completed, sources: sources, partFile: partFile, control: control!, counters: counters, started: started)
            } catch {
                partFile.close()
                throw error
            }
        } else {
            observer.handle(.notice("the origin does not support byte ranges or sent no length: downloading in one stream"))
            mode = "single"
            partFile = try PartFile(creating: partPath, length: file.length)
            observer.handle(.started(DownloadStart(url: file.url, path: path, length: file.length, pieceSize: nil, pieces: 1, sources: ["self"], mode: mode)))
            do {
                try await transferSingleStream(file: file, partFile: partFile, counters: counters, started: started)
            } catch {
                // Without ranges there is nothing to resume from.
                partFile.close()
                partFile.remove()
                throw error
            }
            pieces = ["self": 1]
        }
        defer { partFile.close() }

        logger.debug("transfer done", metadata: ["at": "\((ContinuousClock.now - started).seconds)"])
        try await partFile.sync()
        logger.debug("synced", metadata: ["at": "\((ContinuousClock.now - started).seconds)"])
        let digests: Digests
        if let hashed {
            digests = hashed
        } else {
            digests = try await partFile.digests(sha256: configuration.computeSHA256, extra: configuration.checksum?.algorithm)
        }
        if let expected = configuration.checksum, digests.extra != expected.hex {
            throw DownloadError.integrity(
                "checksum mismatch: expected \(expected.algorithm.rawValue) \(expected.hex), got \(digests.extra ?? "-"); the download is kept at \(partPath) and was not renamed")
        }
        try partFile.moveToFinal(path, overwrite: configuration.overwrite)
        control?.remove()
        let bytes = file.length ?? counters.goodBytes
        let seconds = (ContinuousClock.now - started).seconds
        let shares = counters.bySource.map { DownloadSummary.SourceShare(source: $0.key, bytes: $0.value, pieces: pieces[$0.key] ?? 0) }
            .sorted { $0.bytes > $1.bytes }
        let summary = DownloadSummary(url: file.url, path: path, bytes: bytes, seconds: seconds, sha256: digests.sha256, mode: mode, sources: shares, banned: banned)
        observer.handle(.finished(summary))
        return summary
    }

    /// Peers from the tracker plus this machine, or this machine alone (with a notice).
    private func chooseSources() async throws -> [DownloadSource] {
        let direct = "downloading directly with \(configuration.connections) connection\(configuration.connections == 1 ? "" : "s")"
        var peers: [DownloadSource] = []
        if let trackerURL = configuration.trackerURL {
            do {
                let listed = try await TrackerClient(baseURL: trackerURL, httpClient: httpClient, token: configuration.token).peers()
                peers = listed.map { .peer(host: $0.host, port: $0.port, name: $0.name) }
                if peers.isEmpty { observer.handle(.notice("the tracker lists no peers: \(direct)")) }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                observer.handle(.notice("tracker unreachable (\(error)): \(direct)"))
            }
        } else {
            observer.handle(.notice("no tracker configured: \(direct)"))
        }
        if peers.isEmpty {
            if !configuration.useSelf {
                throw DownloadError.usage("--no-self needs peers, but none are available")
            }
            return [.direct]
        }
        return configuration.useSelf ? peers + [.direct] : peers
    }

    private func transferPieces(
        file: RemoteFile, plan: PiecePlan, completed: Set<Int>, sources: [DownloadSource], partFile: PartFile, control: ControlFile,
        counters: TransferCounters, started: ContinuousClock.Instant
    ) async throws -> (pieces: [String: Int], banned: [String], digests: Digests) {
        let coordinator = DownloadCoordinator(scheduler: PieceScheduler(pieceSizes: (0..<plan.count).map { plan.range(of: $0).count }, completed: completed))
        let directOnly = sources == [.direct]
        for source in sources {
            // The origin itself gets more patience than a peer: it is the last resort.
            await coordinator.addSource(
                source.id, maxInFlight: directOnly ? configuration.connections : configuration.piecesInFlightPerSource,
                maxConsecutiveFailures: source == .direct ? 8 : nil)
        }
        let doneFlags = DoneFlags(count: plan.count)
        for piece in completed { doneFlags.markDone(piece) }
        counters.alreadyHave(completed.reduce(Int64(0)) { $0 + plan.range(of: $1).count })
        let fetcher = PieceFetcher(
            httpClient: httpClient, file: file, partFile: partFile, counters: counters, doneFlags: doneFlags,
            logger: logger, headTimeout: .seconds(Int64(configuration.connectTimeoutSeconds + configuration.readTimeoutSeconds)),
            peerToken: configuration.token)
        let (checks, checkQueue) = AsyncStream.makeStream(of: SpotCheckQueue.Item.self)
        let transfer = Transfer(
            plan: plan, sources: sources, coordinator: coordinator, fetcher: fetcher, doneFlags: doneFlags, control: control,
            counters: counters, hasher: InOrderHasher(
                plan: plan, partFile: partFile, doneFlags: doneFlags, sha256: configuration.computeSHA256, extra: configuration.checksum?.algorithm),
            verifier: PeerVerifier(rate: configuration.verifyPeersRate, useSelf: configuration.useSelf), checkQueue: checkQueue, started: started)

        try await withProgressTicker(counters: counters, length: plan.length, pieces: plan.count, started: started, coordinator: coordinator) {
            try await withThrowingTaskGroup(of: Void.self) { background in
                // Hash the file from the front while it downloads, until the workers end.
                background.addTask {
                    while true {
                        try await transfer.hasher.advance()
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
                defer { background.cancelAll() }
                // Two children that each say whether they settled the download (see
                // DownloadCoordinator.isSettled): the spot checks and the workers. When one of
                // them settles it, whatever the other still runs (waiting for work, an endgame
                // copy that lost) is stopped at once.
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask { try await runSpotChecks(checks, transfer) }
                    group.addTask { try await runWorkers(transfer, slots: directOnly ? configuration.connections : configuration.piecesInFlightPerSource) }
                    while let settled = try await group.next() {
                        // The workers are done (or the download is): no more checks will come.
                        checkQueue.finish()
                        if settled {
                            group.cancelAll()
                            return
                        }
                    }
                }
            }
        }
        guard await coordinator.isComplete else {
            throw DownloadError.network("every source failed; \(await coordinator.completedCount) of \(plan.count) pieces were downloaded (run again to retry)")
        }
        var pieces: [String: Int] = [:]
        for source in sources { pieces[source.id] = await coordinator.completedCount(of: source.id) }
        return (pieces, await coordinator.banned.sorted(), try await transfer.hasher.finish())
    }

    /// Runs `slots` workers per source; returns `true` when one of them settled the download.
    private func runWorkers(_ transfer: Transfer, slots: Int) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for source in transfer.sources {
                for _ in 0..<slots {
                    group.addTask { try await work(source: source, transfer) }
                }
            }
            while let settled = try await group.next() {
                if settled {
                    group.cancelAll()
                    return true
                }
            }
            return false
        }
    }

    /// One worker slot of one source: takes pieces until the scheduler says stop. Returns
    /// `true` when its last piece settled the whole download (see
    /// ``DownloadCoordinator/isSettled``), so the other workers can be stopped.
    private func work(source: DownloadSource, _ transfer: Transfer) async throws -> Bool {
        let id = source.id
        let coordinator = transfer.coordinator
        let plan = transfer.plan
        while true {
            try Task.checkCancellation()
            switch await coordinator.next(for: id) {
            case .stop:
                return false
            case let .wait(until):
                var delay: Duration = .milliseconds(50)
                if let until { delay = max(.milliseconds(5), min(until - .now, .milliseconds(200))) }
                try await Task.sleep(for: delay)
            case let .piece(index, _):
                transfer.counters.began(id)
                defer { transfer.counters.ended(id) }
                let pieceStarted = ContinuousClock.now
                let range = plan.range(of: index)
                do {
                    try await fetchUnlessSuperseded(piece: index, range: range, from: source, fetcher: transfer.fetcher, doneFlags: transfer.doneFlags)
                    logger.debug("piece done", metadata: [
                        "piece": "\(index)", "source": "\(id)", "bytes": "\(range.count)",
                        "seconds": "\((ContinuousClock.now - pieceStarted).seconds)", "at": "\((ContinuousClock.now - transfer.started).seconds)",
                    ])
                    let windows = transfer.verifier.windows(for: source, in: range)
                    guard await coordinator.complete(index, by: id, doneFlags: transfer.doneFlags, verifying: !windows.isEmpty) else { return false }
                    try await transfer.control.markCompleted(index)
                    // The check runs beside the workers, so this source goes on with its next
                    // piece at once instead of idling while the referee fetches the window.
                    if !windows.isEmpty { transfer.checkQueue.yield(.check(SpotCheck(piece: index, windows: windows, source: source))) }
                    if await coordinator.isSettled { return true }
                } catch PieceFailure.superseded {
                    await coordinator.cancelled(index, by: id)
                } catch let failure as PieceFailure {
                    logger.info("piece failed", metadata: ["piece": "\(index)", "source": "\(id)", "reason": "\(failure)"])
                    observer.handle(.pieceFailed(piece: index, source: id, reason: failure.description))
                    var retryAfter: Duration?
                    if case let .status(_, _, after) = failure { retryAfter = after }
                    if await coordinator.failed(index, by: id, retryAfter: retryAfter) {
                        observer.handle(.sourceDropped(source: id))
                    }
                } catch {
                    await coordinator.cancelled(index, by: id)
                    throw error
                }
            }
        }
    }

    /// Fetches a piece, and abandons it as soon as another copy of it completes (endgame):
    /// the losing request is cancelled even while it is still connecting or waiting.
    private func fetchUnlessSuperseded(
        piece index: Int, range: ByteRange, from source: DownloadSource, fetcher: PieceFetcher, doneFlags: DoneFlags
    ) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await fetcher.fetch(piece: index, range: range, from: source)
                return true
            }
            group.addTask {
                while !doneFlags.isDone(index) { try await Task.sleep(for: .milliseconds(50)) }
                return false
            }
            let fetched = try await group.next()!
            group.cancelAll()
            if !fetched { throw PieceFailure.superseded }
        }
    }

    /// Origin without ranges or length: one stream, written sequentially.
    private func transferSingleStream(file: RemoteFile, partFile: PartFile, counters: TransferCounters, started: ContinuousClock.Instant) async throws {
        try await withProgressTicker(counters: counters, length: file.length, pieces: 1, started: started, coordinator: nil) {
            var request = HTTPClientRequest(url: file.url)
            request.headers.add(name: "User-Agent", value: "ddl")
            let response: HTTPClientResponse
            do {
                response = try await httpClient.execute(request, timeout: .seconds(Int64(configuration.connectTimeoutSeconds + configuration.readTimeoutSeconds)), logger: logger)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw DownloadError.network("cannot reach the origin: \(error)")
            }
            guard response.status == .ok else {
                throw DownloadError.origin("the origin answered HTTP \(response.status.code) for \(file.url)", status: Int(response.status.code))
            }
            var offset: Int64 = 0
            do {
                for try await chunk in response.body {
                    if let length = file.length, offset + Int64(chunk.readableBytes) > length {
                        throw DownloadError.integrity("the origin sent more than the announced \(length) bytes")
                    }
                    try partFile.write(chunk, at: offset)
                    offset += Int64(chunk.readableBytes)
                    counters.received(chunk.readableBytes, from: DownloadSource.direct.id)
                }
            } catch let error as DownloadError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw DownloadError.network("the download broke off after \(offset) bytes: \(error) (run again to retry)")
            }
            if let length = file.length, offset != length {
                throw DownloadError.integrity("the origin sent \(offset) of the announced \(length) bytes")
            }
        }
    }

    /// Runs `body` while a child task reports progress periodically.
    private func withProgressTicker(
        counters: TransferCounters, length: Int64?, pieces: Int, started: ContinuousClock.Instant, coordinator: DownloadCoordinator?,
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
                    let bytes = counters.goodBytes
                    window.add(bytes: bytes, at: now)
                    let done = await coordinator?.completedCount ?? 0
                    observer.handle(.progress(ProgressSnapshot(
                        bytes: min(bytes, length ?? .max), length: length, elapsedSeconds: (now - started).seconds,
                        rate: window.rate, activeSources: counters.activeSources, piecesDone: done, pieces: pieces)))
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
