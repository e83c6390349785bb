import Synchronization

extension TestOrigin {
    /// A pause point in the origin's responses, made by ``TestOrigin/pause(atOffset:)``.
    ///
    /// While the gate is closed, no `GET` response sends a byte at or beyond ``offset`` of the
    /// file: a response whose range starts before the offset sends the bytes before it and
    /// then waits; a response whose range starts at or after it waits before its first body
    /// byte (the status line and headers may already be out). Waiting responses suspend in
    /// their body-writing task, not on a thread.
    ///
    /// A test awaits ``reached()`` to learn that a response is held at the gate, does what it
    /// must do at that moment, and calls ``release()``. The gate opens for good when it is
    /// released, when the last reference to it goes away (keep it in a variable for as long
    /// as it must hold), and when the origin's service shuts down gracefully or
    /// ``TestOrigin/releaseAllGates()`` is called, so that a forgotten gate never hangs a test.
    public final class Gate: Sendable {
        let core: GateCore

        init(core: GateCore) { self.core = core }

        deinit { core.release() }

        /// The file offset at which responses stop.
        public var offset: Int64 { core.offset }

        /// Waits until a response is held at the gate (returns at once if one has been).
        ///
        /// - Returns: `true` when a response reached the gate; `false` when the gate was
        ///   released (or the origin shut down) before any did, or the waiting task was
        ///   cancelled.
        @discardableResult
        public func reached() async -> Bool { await core.reached() }

        /// Lets every held response go on, and every later one pass. Idempotent.
        public func release() { core.release() }

        /// Whether the gate has been released.
        public var isReleased: Bool { core.isReleased }

        /// Responses held at the gate right now.
        public var heldResponses: Int { core.heldResponses }
    }
}

/// The state of a gate, shared by the ``TestOrigin/Gate`` handle (whose end releases it) and
/// the origin (which must not keep the handle alive).
final class GateCore: Sendable {
    private struct State {
        var released = false
        var everReached = false
        var nextID = 0
        /// Responses held at the gate.
        var held: [Int: CheckedContinuation<Void, any Error>] = [:]
        /// Tasks in ``reached()``.
        var watchers: [Int: CheckedContinuation<Bool, Never>] = [:]
    }

    let offset: Int64
    private let state = Mutex(State())

    init(offset: Int64) { self.offset = offset }

    var isReleased: Bool { state.withLock { $0.released } }
    var heldResponses: Int { state.withLock { $0.held.count } }

    func release() {
        let (held, watchers) = state.withLock { state -> ([CheckedContinuation<Void, any Error>], [CheckedContinuation<Bool, Never>]) in
            guard !state.released else { return ([], []) }
            state.released = true
            defer {
                state.held = [:]
                state.watchers = [:]
            }
            return (Array(state.held.values), Array(state.watchers.values))
        }
        for response in held { response.resume() }
        for watcher in watchers { watcher.resume(returning: false) }
    }

    /// Holds the calling response until the gate is released. Throws `CancellationError`
    /// (and forgets the response) when the calling task is cancelled first.
    func hold() async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case pass, cancelled, held }
                let (outcome, watchers) = state.withLock { state -> (Outcome, [CheckedContinuation<Bool, Never>]) in
                    if state.released { return (.pass, []) }
                    // The cancellation flag is set before the handler runs, so a handler that
                    // took the lock first and found nothing to resume is seen here.
                    if Task.isCancelled { return (.cancelled, []) }
                    state.held[id] = continuation
                    state.everReached = true
                    defer { state.watchers = [:] }
                    return (.held, Array(state.watchers.values))
                }
                for watcher in watchers { watcher.resume(returning: true) }
                switch outcome {
                case .pass: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .held: break
                }
            }
        } onCancel: {
            let continuation = state.withLock { $0.held.removeValue(forKey: id) }
            continuation?.resume(throwing: CancellationError())
        }
    }

    func reached() async -> Bool {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let answer = state.withLock { state -> Bool? in
                    if state.everReached { return true }
                    if state.released || Task.isCancelled { return false }
                    state.watchers[id] = continuation
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let continuation = state.withLock { $0.watchers.removeValue(forKey: id) }
            continuation?.resume(returning: false)
        }
    }
}
