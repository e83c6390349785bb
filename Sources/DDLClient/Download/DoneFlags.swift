import Synchronization

/// Which pieces are complete, readable from any task without an actor hop, so that a
/// duplicate endgame copy stops as soon as the other copy wins.
final class DoneFlags: Sendable {
    private let flags: Mutex<[Bool]>

    init(count: Int) { flags = Mutex([Bool](repeating: false, count: count)) }

    func isDone(_ piece: Int) -> Bool { flags.withLock { $0[piece] } }
    func markDone(_ piece: Int) { flags.withLock { $0[piece] = true } }
    func markUndone(_ piece: Int) { flags.withLock { $0[piece] = false } }
}
