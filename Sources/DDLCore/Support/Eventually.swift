/// A value that becomes known later (a bound port, a registration id); tasks can wait for it.
public actor Eventually<Value: Sendable> {
    private var value: Value?

    public init() {}

    /// Sets the value.
    public func set(_ value: Value) { self.value = value }

    /// The value if already known.
    public var current: Value? { value }

    /// Waits until the value is set (polling every 5 ms; cancellable).
    public func wait() async throws -> Value {
        while true {
            if let value { return value }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
