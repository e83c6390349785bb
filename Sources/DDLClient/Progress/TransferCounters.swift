import Synchronization

/// Byte counters updated on every chunk (a lock box: this is the hot path).
final class TransferCounters: Sendable {
    struct State {
        var good: Int64 = 0
        var bySource: [String: Int64] = [:]
        var active: [String: Int] = [:]
        var cachedBySource: [String: Int64] = [:]
    }

    private let state = Mutex(State())

    /// Bytes `source` sent for a piece (whether or not they were written: an endgame copy's
    /// bytes that another copy wrote first are traffic too).
    func received(_ bytes: Int, from source: String) {
        state.withLock { $0.bySource[source, default: 0] += Int64(bytes) }
    }

    /// Bytes fetched to spot-check another source: traffic of `source`, not progress.
    func verified(_ bytes: Int, from source: String) {
        state.withLock { $0.bySource[source, default: 0] += Int64(bytes) }
    }

    /// Bytes written in a single-stream download (a segmented one counts its progress in its
    /// scheduler).
    func wrote(_ bytes: Int) {
        state.withLock { $0.good += Int64(bytes) }
    }

    /// Bytes of `source`'s answers that its peer did not fetch from the origin for them
    /// (its cache, or another request's fetch), as its `DDL-Cache-Bytes` header says.
    func cached(_ bytes: Int64, from source: String) {
        guard bytes > 0 else { return }
        state.withLock { $0.cachedBySource[source, default: 0] += bytes }
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
    var cachedBySource: [String: Int64] { state.withLock { $0.cachedBySource } }
}
