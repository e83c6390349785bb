import Synchronization

/// Byte counters updated on every chunk (a lock box: this is the hot path).
final class TransferCounters: Sendable {
    struct State {
        var good: Int64 = 0
        var bySource: [String: Int64] = [:]
        var active: [String: Int] = [:]
    }

    private let state = Mutex(State())

    func received(_ bytes: Int, from source: String) {
        state.withLock {
            $0.good += Int64(bytes)
            $0.bySource[source, default: 0] += Int64(bytes)
        }
    }

    /// Bytes fetched to spot-check another source: traffic of `source`, not progress.
    func verified(_ bytes: Int, from source: String) {
        state.withLock { $0.bySource[source, default: 0] += Int64(bytes) }
    }

    /// Bytes already on disk from an earlier run count as done.
    func alreadyHave(_ bytes: Int64) {
        state.withLock { $0.good += bytes }
    }

    /// A piece attempt was abandoned: its bytes no longer count towards progress.
    func discard(_ bytes: Int64) {
        state.withLock { $0.good -= bytes }
    }

    func began(_ source: String) { state.withLock { $0.active[source, default: 0] += 1 } }
    func ended(_ source: String) {
        state.withLock {
            $0.active[source, default: 1] -= 1
            if $0.active[source] == 0 { $0.active[source] = nil }
        }
    }

    var goodBytes: Int64 { state.withLock { $0.good } }
    var activeSources: Int { state.withLock { $0.active.count } }
    var bySource: [String: Int64] { state.withLock { $0.bySource } }
}
