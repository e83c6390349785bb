/// How the spot checks of one source's bytes came out (`--verify-peers`), for the summary
/// and the `--json` events.
public struct CheckOutcomes: Sendable, Hashable, Codable {
    /// Windows of the source's bytes that were checked.
    public var checked = 0
    /// Windows a referee confirmed.
    public var confirmed = 0
    /// Windows that showed wrong bytes (the source was banned), or, for a source asked to
    /// referee, wrong answers it gave.
    public var caught = 0
    /// Windows nobody could settle (the origin could not deliver them and no peer settled
    /// them): not passed.
    public var inconclusive = 0

    public init() {}

    /// Adds the outcomes of `other` (another pass over the same download).
    mutating func add(_ other: CheckOutcomes) {
        checked += other.checked
        confirmed += other.confirmed
        caught += other.caught
        inconclusive += other.inconclusive
    }
}

/// One window's check, reported as it ends (`--json` event `spotCheck`).
public struct SpotCheckReport: Sendable, Hashable, Codable {
    public enum Outcome: String, Sendable, Hashable, Codable {
        /// The referee served the same bytes.
        case confirmed
        /// The bytes on disk were wrong: the source is banned, its pieces fetched again.
        case caught
        /// The referee (a peer) lied: it is banned instead.
        case refereeCaught = "referee-caught"
        /// Nobody could settle the window.
        case inconclusive
    }

    /// The source whose bytes were checked.
    public var source: String
    public var piece: Int
    /// First and last byte of the window in the file.
    public var first: Int64
    public var last: Int64
    /// Who the bytes were compared with.
    public var referee: String?
    public var outcome: Outcome
    /// Why the window could not be settled, for `inconclusive`.
    public var reason: String?
}

/// Bytes a spot check could not settle.
public struct UnverifiedRange: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The source that delivered them.
    public var source: String
    public var piece: Int
    public var first: Int64
    public var last: Int64
    public var reason: String

    public var description: String { "bytes \(first)-\(last) from \(source): \(reason)" }
}
