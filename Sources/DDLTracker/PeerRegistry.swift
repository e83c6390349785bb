import DDLCore
import Foundation

/// The tracker's soft state: registered peers, each forgotten `ttl` after its last
/// registration or heartbeat.
public actor PeerRegistry {
    struct Entry: Sendable {
        var id: String
        var host: String
        var port: Int
        var name: String?
        var lastSeen: ContinuousClock.Instant
        var lastSeenWall: Date
    }

    /// Time a peer stays listed without a heartbeat.
    public let ttl: Duration
    /// Most peers kept; registrations past it are refused.
    public let capacity: Int
    private var entries: [String: Entry] = [:]
    private var idByEndpoint: [String: String] = [:]
    private let clock = ContinuousClock()

    public init(ttl: Duration = .seconds(30), capacity: Int = 100_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    /// Registration outcome.
    public enum RegisterResult: Sendable, Equatable {
        case registered(id: String)
        case full
    }

    /// Registers `host:port`, reusing the id when that endpoint is already registered.
    public func register(host: String, port: Int, name: String?) -> RegisterResult {
        let now = clock.now
        let endpoint = "\(host)|\(port)"
        if let id = idByEndpoint[endpoint], entries[id] != nil {
            entries[id]!.lastSeen = now
            entries[id]!.lastSeenWall = Date()
            entries[id]!.name = name
            return .registered(id: id)
        }
        if entries.count >= capacity {
            expire(now: now)
            if entries.count >= capacity { return .full }
        }
        let id = Self.makeID()
        entries[id] = Entry(id: id, host: host, port: port, name: name, lastSeen: now, lastSeenWall: Date())
        idByEndpoint[endpoint] = id
        return .registered(id: id)
    }

    /// Refreshes `id`; returns false when the id is unknown or already expired.
    public func heartbeat(id: String) -> Bool {
        let now = clock.now
        guard let entry = entries[id] else { return false }
        if now - entry.lastSeen > ttl {
            remove(id: id)
            return false
        }
        entries[id]!.lastSeen = now
        entries[id]!.lastSeenWall = Date()
        return true
    }

    /// Removes `id`; returns whether it was registered.
    @discardableResult
    public func remove(id: String) -> Bool {
        guard let entry = entries.removeValue(forKey: id) else { return false }
        idByEndpoint["\(entry.host)|\(entry.port)"] = nil
        return true
    }

    /// The live peers, oldest registration first is not guaranteed; sorted by host and port.
    public func list(limit: Int = .max) -> [TrackerAPI.Peer] {
        expire(now: clock.now)
        let formatter = ISO8601DateFormatter()
        return entries.values
            .sorted { ($0.host, $0.port) < ($1.host, $1.port) }
            .prefix(limit)
            .map { TrackerAPI.Peer(id: $0.id, host: $0.host, port: $0.port, name: $0.name, lastSeen: formatter.string(from: $0.lastSeenWall)) }
    }

    /// Number of registered peers (including any not yet swept).
    public var count: Int { entries.count }

    /// Forgets every peer whose TTL has passed.
    public func expire(now: ContinuousClock.Instant) {
        for (id, entry) in entries where now - entry.lastSeen > ttl {
            remove(id: id)
        }
    }

    /// Forgets expired peers as of now.
    public func sweep() { expire(now: clock.now) }

    static func makeID() -> String {
        var rng = SystemRandomNumberGenerator()
        let hex = Array("0123456789abcdef".utf8)
        var bytes = [UInt8]()
        for _ in 0..<16 {
            let v = UInt8.random(in: 0...255, using: &rng)
            bytes.append(hex[Int(v >> 4)])
            bytes.append(hex[Int(v & 0xF)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
