import DDLCore
import Synchronization

/// Carries out the ``PieceScheduler``'s decisions for the tasks of one segmented transfer.
///
/// The scheduler (a pure state machine) is the only place that decides: which piece a source
/// fetches, which bytes a copy may write, when a piece is complete, what a ban throws away.
/// The coordinator holds it under one lock and turns its answers into actions: it cancels
/// the copies the scheduler names, queues the spot checks of a completed piece in the same
/// step, wakes the hasher and the persister, and wakes idle workers whenever something
/// changed (no polling: they wait on a signal, or until a time the scheduler names).
final class DownloadCoordinator: Sendable {
    typealias SourceID = PieceScheduler.SourceID

    /// A piece handed to a worker.
    struct Job: Sendable {
        let piece: Int
        let duplicate: Bool
        /// Where the copy starts, relative to the piece (bytes before it are written).
        let start: Int64
        /// Fired when the copy should stop (another copy won, or a ban reset the piece).
        let cancel: OneShot
    }

    /// What a worker does next.
    enum Step: Sendable {
        case job(Job)
        /// Nothing to do: wait for a change (``waitForChange(since:until:)``), or until `until`.
        case wait(until: ContinuousClock.Instant?, version: Int)
        case stop
    }

    private struct State {
        var scheduler: PieceScheduler
        /// Bumped on every change that could give an idle worker something to do.
        var version = 0
        /// Bytes of peers' answers so far, and how many of them came from their caches.
        var answeredBytes: Int64 = 0
        var cachedBytes: Int64 = 0
        var changed = OneShot()
        var copies: [PieceScheduler.Copy: OneShot] = [:]
        var banned: Set<SourceID> = []
        /// Sources that did not deliver a spot check's window in time.
        var slowReferees: Set<SourceID> = []
        /// Which delivered bytes are spot-checked.
        var planner: SpotCheckPlanner
        /// Pieces that had endgame copies since they were last queued.
        var raced: Set<Int> = []
        /// Spot-check windows no source could settle, by piece, with the generation of the
        /// bytes they concern.
        var unverified: [Int: (generation: Int, ranges: [UnverifiedRange])] = [:]
        /// Spot-check outcomes per checked source.
        var outcomes: [SourceID: CheckOutcomes] = [:]
    }

    /// Actions to carry out once the lock is released.
    private struct Actions {
        var cancel: [OneShot] = []
        var changed: OneShot?
        var checks: [SpotCheck] = []
        var completed = false
        var reset = false
    }

    private let state: Mutex<State>
    /// Whether the peers' holdings told the swarm's warmth before the transfer (answers do
    /// not change it then).
    private let warmthKnown: Bool
    private let clock = ContinuousClock()
    let plan: PiecePlan
    private let sources: [SourceID: DownloadSource]
    /// Where completed pieces' spot checks go.
    private let checks: AsyncStream<SpotCheck>.Continuation
    /// Pinged when pieces complete (the hasher advances).
    private let pieceCompleted: AsyncStream<Void>.Continuation
    /// Pinged when what the control file may record changed.
    private let persistable: AsyncStream<Void>.Continuation
    /// Called after a reset threw away bytes that may have been hashed already.
    private let onReset: @Sendable () -> Void

    init(
        plan: PiecePlan, completed: Set<Int>, sources: [DownloadSource], verifier: PeerVerifier,
        checks: AsyncStream<SpotCheck>.Continuation, pieceCompleted: AsyncStream<Void>.Continuation,
        persistable: AsyncStream<Void>.Continuation, owners: [SourceID?]? = nil, warm: Bool? = nil, onReset: @escaping @Sendable () -> Void
    ) {
        self.plan = plan
        self.sources = Dictionary(sources.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.checks = checks
        self.pieceCompleted = pieceCompleted
        self.persistable = persistable
        self.onReset = onReset
        var scheduler = PieceScheduler(pieceSizes: (0..<plan.count).map { plan.range(of: $0).count }, completed: completed)
        if let owners { scheduler.assignOwners(owners) }
        scheduler.swarmIsWarm = warm
        warmthKnown = warm != nil
        self.state = Mutex(State(scheduler: scheduler, planner: SpotCheckPlanner(rate: verifier.rate, window: PeerVerifier.window)))
    }

    func addSource(_ id: SourceID, maxInFlight: Int, maxConsecutiveFailures: Int? = nil, stealsOnlyWhenCold: Bool = false) {
        state.withLock {
            $0.scheduler.addSource(id, maxInFlight: maxInFlight, maxConsecutiveFailures: maxConsecutiveFailures, stealsOnlyWhenCold: stealsOnlyWhenCold)
        }
    }

    /// A digest from the publisher is known: the spot-check sample shrinks (see
    /// ``SpotCheckPlanner/vouched``).
    func vouch() {
        state.withLock { $0.planner.vouched = true }
    }

    /// A peer's answer for a piece began: `cached` of its `bytes` came from its cache (or a
    /// fetch already running there). Any such answer shows that the peers fetch this file
    /// for other clients too (``PieceScheduler/othersFetch``). Unless the holdings told it,
    /// decides whether the swarm is warm: at least half the bytes answered so far came from
    /// caches.
    func peerAnswered(cached: Int64, of bytes: Int64) {
        let actions = state.withLock { state -> Actions in
            var changed = false
            if cached > 0, !state.scheduler.othersFetch {
                state.scheduler.othersFetch = true
                changed = true
            }
            if !warmthKnown {
                state.answeredBytes += bytes
                state.cachedBytes += min(cached, bytes)
                let warm = state.cachedBytes * 2 >= state.answeredBytes
                if state.scheduler.swarmIsWarm != warm {
                    state.scheduler.swarmIsWarm = warm
                    changed = true
                }
            }
            return changed ? Actions(changed: bump(&state)) : Actions()
        }
        carryOut(actions)
    }

    // MARK: Workers

    /// What `source` does next.
    func next(for source: SourceID) -> Step {
        state.withLock { state in
            switch state.scheduler.next(for: source, now: clock.now) {
            case let .piece(piece, duplicate):
                if duplicate { state.raced.insert(piece) }
                let cancel = OneShot()
                state.copies[PieceScheduler.Copy(piece: piece, source: source)] = cancel
                return .job(Job(piece: piece, duplicate: duplicate, start: state.scheduler.frontier(of: piece), cancel: cancel))
            case let .wait(until):
                return .wait(until: until, version: state.version)
            case .stop:
                // Every piece is done, but a running spot check may still queue some again.
                if state.scheduler.isComplete && !state.scheduler.isSettled && !state.scheduler.isDropped(source) {
                    return .wait(until: nil, version: state.version)
                }
                return .stop
            }
        }
    }

    /// Returns once something changed since `version`, or at `until`; throws when cancelled.
    func waitForChange(since version: Int, until: ContinuousClock.Instant?) async throws {
        let signal = state.withLock { $0.version == version ? $0.changed : nil }
        guard let signal else { return }
        if let until {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await Task.sleep(until: until, clock: .continuous) }
                group.addTask { await signal.wait() }
                await group.next()
                group.cancelAll()
            }
        } else {
            await signal.wait()
        }
        try Task.checkCancellation()
    }

    /// `source` has `count` bytes at piece offset `offset` of its copy of `piece`.
    func reserveWrite(_ piece: Int, by source: SourceID, at offset: Int64, count: Int64) -> PieceScheduler.WriteGrant {
        state.withLock { $0.scheduler.reserveWrite(piece, by: source, at: offset, count: count) }
    }

    /// The reserved write is in the file. Completes the piece when it was the last.
    func commitWrite(_ piece: Int, by source: SourceID) {
        let actions = state.withLock { state -> Actions in
            let outcome = state.scheduler.commitWrite(piece, by: source, now: clock.now)
            var actions = Actions()
            if let completed = outcome.completed {
                actions.completed = true
                actions.checks = spotChecks(piece: piece, generation: completed.generation, segments: completed.segments, in: &state)
                for check in actions.checks { state.scheduler.beginCheck(piece, generation: check.generation) }
                actions.cancel = cancelSignals(outcome.cancel, in: &state)
                actions.changed = bump(&state)
            }
            return actions
        }
        carryOut(actions)
    }

    /// The reserved write could not be made: the piece starts over.
    func abortWrite(_ piece: Int, by source: SourceID) {
        let actions = state.withLock { state -> Actions in
            var actions = Actions()
            actions.cancel = cancelSignals(state.scheduler.abortWrite(piece, by: source), in: &state)
            actions.reset = true
            actions.changed = bump(&state)
            return actions
        }
        carryOut(actions)
    }

    /// The copy ended without fault: its body was complete, or it was told to stop.
    func released(_ piece: Int, by source: SourceID) {
        let actions = state.withLock { state -> Actions in
            state.copies[PieceScheduler.Copy(piece: piece, source: source)] = nil
            state.scheduler.cancelled(piece, by: source)
            return Actions(changed: bump(&state))
        }
        carryOut(actions)
    }

    /// The copy failed; returns whether the source is now dropped.
    func failed(_ piece: Int, by source: SourceID, retryAfter: Duration?) -> Bool {
        let (dropped, actions) = state.withLock { state -> (Bool, Actions) in
            state.copies[PieceScheduler.Copy(piece: piece, source: source)] = nil
            state.scheduler.failed(piece, by: source, now: clock.now, retryAfter: retryAfter, jitter: Double.random(in: 0.5...1.5))
            return (state.scheduler.isDropped(source), Actions(changed: bump(&state)))
        }
        carryOut(actions)
        return dropped
    }

    // MARK: Spot checks and bans

    /// Bans `source` for bytes it wrote into `piece` at `generation`. Returns the pieces
    /// queued again, or `nil` when there is nothing to do: the source was banned already, or
    /// those bytes were thrown away meanwhile (then the verdict says nothing about them).
    func ban(_ source: SourceID, piece: Int, generation: Int) -> [Int]? {
        ban(source) { $0.wrote(piece, by: source, generation: generation) }
    }

    /// Bans `source` for a wrong live answer as the referee of a check of `piece` at
    /// `generation`, whose bytes on disk and tiebreaker agreed against it. Returns the pieces
    /// queued again, or `nil` when it was banned already or the piece's bytes were thrown
    /// away meanwhile (then the bytes it contradicted may have been half rewritten).
    func banReferee(_ source: SourceID, piece: Int, generation: Int) -> [Int]? {
        ban(source) { $0.ledger(of: piece).generation == generation && $0.isDone(piece) }
    }

    private func ban(_ source: SourceID, if applies: (PieceScheduler) -> Bool) -> [Int]? {
        let (requeued, actions) = state.withLock { state -> ([Int]?, Actions) in
            guard !state.banned.contains(source), applies(state.scheduler) else { return (nil, Actions()) }
            state.banned.insert(source)
            let outcome = state.scheduler.banReporting(source)
            var actions = Actions()
            actions.cancel = cancelSignals(outcome.cancel, in: &state)
            actions.reset = true
            actions.changed = bump(&state)
            return (outcome.requeued, actions)
        }
        carryOut(actions)
        return requeued
    }

    /// A spot check queued by a completion ended. Returns whether its verdict still concerns
    /// the piece's bytes.
    @discardableResult
    func endCheck(_ check: SpotCheck) -> Bool {
        let (current, actions) = state.withLock { state -> (Bool, Actions) in
            let current = state.scheduler.endCheck(check.piece, generation: check.generation)
            return (current, Actions(changed: bump(&state)))
        }
        carryOut(actions)
        persistable.yield()
        return current
    }

    /// Records how a window's check came out. A window nobody could settle keeps its piece
    /// out of the control file, and is reported at the end unless the piece's bytes were
    /// thrown away meanwhile.
    func record(_ report: SpotCheckReport, generation: Int) {
        state.withLock { state in
            var outcomes = state.outcomes[report.source] ?? CheckOutcomes()
            defer { state.outcomes[report.source] = outcomes }
            outcomes.checked += 1
            switch report.outcome {
            case .confirmed:
                outcomes.confirmed += 1
            case .caught:
                outcomes.caught += 1
            case .refereeCaught:
                outcomes.confirmed += 1
                if let referee = report.referee { state.outcomes[referee, default: CheckOutcomes()].caught += 1 }
            case .inconclusive:
                outcomes.inconclusive += 1
                guard state.scheduler.ledger(of: report.piece).generation == generation else { return }
                let range = UnverifiedRange(
                    source: report.source, piece: report.piece, first: report.first, last: report.last, reason: report.reason ?? "unknown")
                if state.unverified[report.piece]?.generation != generation { state.unverified[report.piece] = (generation, []) }
                state.unverified[report.piece]!.ranges.append(range)
            }
        }
    }

    // MARK: Queries

    var isComplete: Bool { state.withLock { $0.scheduler.isComplete } }
    var completedCount: Int { state.withLock { $0.scheduler.completedCount } }
    func completedCount(of source: SourceID) -> Int { state.withLock { $0.scheduler.completedCount(of: source) } }
    func isDone(_ piece: Int) -> Bool { state.withLock { $0.scheduler.isDone(piece) } }
    var banned: Set<SourceID> { state.withLock { $0.banned } }
    /// Sources that did not deliver a spot check's window in time: not asked to referee again.
    var slowReferees: Set<SourceID> { state.withLock { $0.slowReferees } }
    /// `source` did not deliver a spot check's window in time.
    func slowReferee(_ source: SourceID) { state.withLock { _ = $0.slowReferees.insert(source) } }
    /// Bytes written into the file (complete pieces whole): the download's progress.
    var writtenBytes: Int64 { state.withLock { $0.scheduler.writtenBytes } }
    /// What the control file may record once the data is synced: see
    /// ``PieceScheduler/persistablePieces``.
    /// Pieces with bytes no check could settle are left out: a resume fetches them again.
    var persistablePieces: [Int: Int] {
        state.withLock { state in
            state.scheduler.persistablePieces.filter { piece, generation in state.unverified[piece]?.generation != generation }
        }
    }
    /// Windows no check could settle, of bytes still in the file.
    var unverifiedRanges: [UnverifiedRange] {
        state.withLock { state in
            state.unverified.sorted { $0.key < $1.key }.flatMap { piece, entry in
                state.scheduler.ledger(of: piece).generation == entry.generation && state.scheduler.isDone(piece) ? entry.ranges : []
            }
        }
    }
    /// The bytes an end check that failed may blame: every segment an untrusted source wrote
    /// into a complete piece, and whole pieces taken from an earlier run (who wrote them is
    /// not known).
    var suspects: [Downloader.Suspect] {
        state.withLock { state in
            (0..<plan.count).flatMap { piece -> [Downloader.Suspect] in
                guard state.scheduler.isDone(piece) else { return [] }
                let range = plan.range(of: piece)
                let segments = state.scheduler.ledger(of: piece).segments
                if segments.isEmpty { return [Downloader.Suspect(piece: piece, range: range, source: nil)] }
                return segments.compactMap { segment in
                    guard sources[segment.source]?.trust == .checked else { return nil }
                    return Downloader.Suspect(
                        piece: piece, range: ByteRange(first: range.first + segment.start, last: range.first + segment.end - 1), source: segment.source)
                }
            }
        }
    }
    /// How the spot checks came out, per source.
    var checkOutcomes: [SourceID: CheckOutcomes] { state.withLock { $0.outcomes } }
    func stillPersistable(_ snapshot: [Int: Int]) -> Set<Int> { state.withLock { $0.scheduler.stillPersistable(snapshot) } }

    // MARK: Helpers

    /// The spot checks of a completed piece: windows of the bytes each untrusted source wrote
    /// (see ``SpotCheckPlanner``).
    private func spotChecks(piece: Int, generation: Int, segments: [PieceScheduler.Segment], in state: inout State) -> [SpotCheck] {
        let first = plan.range(of: piece).first
        let raced = state.raced.remove(piece) != nil
        var generator = SystemRandomNumberGenerator()
        var bySource: [SourceID: [ByteRange]] = [:]
        for segment in segments {
            guard let source = sources[segment.source], source.trust == .checked else { continue }
            let range = ByteRange(first: first + segment.start, last: first + segment.end - 1)
            bySource[segment.source, default: []] += state.planner.windows(of: range, by: segment.source, raced: raced, using: &generator)
        }
        return bySource.keys.sorted().compactMap { id in
            guard let windows = bySource[id], !windows.isEmpty, let source = sources[id] else { return nil }
            return SpotCheck(piece: piece, generation: generation, windows: windows, source: source)
        }
    }

    private func cancelSignals(_ copies: [PieceScheduler.Copy], in state: inout State) -> [OneShot] {
        copies.compactMap { state.copies[$0] }
    }

    private func bump(_ state: inout State) -> OneShot {
        state.version += 1
        let old = state.changed
        state.changed = OneShot()
        return old
    }

    private func carryOut(_ actions: Actions) {
        for signal in actions.cancel { signal.fire() }
        if actions.reset { onReset() }
        for check in actions.checks { checks.yield(check) }
        if actions.completed || actions.reset {
            pieceCompleted.yield()
            persistable.yield()
        }
        actions.changed?.fire()
    }
}
