import Synchronization

/// Caps concurrent origin fetches without waiting: a fetch past the cap is refused.
public final class FetchLimiter: Sendable {
    private let active = Atomic<Int>(0)
    /// Most fetches at once.
    public let limit: Int

    public init(limit: Int) { self.limit = max(1, limit) }

    /// Takes a slot; false when all are taken.
    public func tryAcquire() -> Bool {
        var current = active.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = active.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives a slot back.
    public func release() { active.subtract(1, ordering: .acquiringAndReleasing) }

    /// Fetches in progress.
    public var inUse: Int { active.load(ordering: .relaxed) }
}
