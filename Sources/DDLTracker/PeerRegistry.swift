import DDLCore
import Foundation
import NIOCore
import NIOFoundationCompat

/// The tracker's soft state: registered peers, each forgotten `ttl` after its last
/// registration or heartbeat.
public actor PeerRegistry {
    struct Entry: Sendable {
        var id: String
        var host: String
        var port: Int
        var name: String?
        /// The address the registration came from (not the advertised host).
        var source: String
        /// Order of registration, oldest first.
        var serial: Int
        var lastSeen: ContinuousClock.Instant
        var lastSeenWall: Date
        /// The peer's last reported status, and when it came.
        var status: TrackerAPI.PeerStatus?
        var statusAt: Date?
        /// Its TLS certificate's fingerprint (nil: plain HTTP).
        var fingerprint: CertificateFingerprint?
    }

    /// Bytes a peer served between two of its status reports (for the throughput chart).
    public struct ServedDelta: Sendable, Hashable {
        public var bytes: Int64
        public var from: Date
        public var to: Date
    }

    /// Time a peer stays listed without a heartbeat.
    public let ttl: Duration
    /// Most peers kept; registrations past it are refused.
    public let capacity: Int
    /// Most peers kept per source address; registrations past it are refused.
    public let capacityPerSource: Int
    private var entries: [String: Entry] = [:]
    /// Live entries per source address.
    private var countBySource: [String: Int] = [:]
    private var nextSerial = 0
    private var idByEndpoint: [String: String] = [:]
    private let now: @Sendable () -> ContinuousClock.Instant
    /// Bumped whenever a peer is added, renamed or removed.
    private var membershipVersion = 0
    /// The encoded list answer, reused for requests in the same second with the same
    /// membership (list requests far outnumber changes; `lastSeen` has 1 s precision).
    private var cachedList: (version: Int, second: Int64, limit: Int, body: ByteBuffer)?
    /// The peers grouped for ranking per file, rebuilt when the membership changes or a
    /// second has passed (`lastSeen`), on the first ranked request after that.
    private var ranking: (version: Int, second: Int64, ranking: PeerRanking)?
    /// Per-file answers ("limit file" → slot) of one membership version and second.
    private var cachedRanked: (version: Int, second: Int64, slots: [String: RankedSlot]) = (-1, 0, [:])
    /// Per-file rankings started (each request that found no answer and no ranking running).
    private(set) var rankingsStarted = 0
    /// Most per-file answers kept in one second (past it, new ones are not kept).
    static let maxCachedRanked = 4096
    private let formatter = ISO8601DateFormatter()

    /// - Parameter now: the clock that ages entries; tests pass one they advance by hand.
    public init(
        ttl: Duration = .seconds(30), capacity: Int = 100_000, capacityPerSource: Int = 32,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.ttl = ttl
        self.capacity = capacity
        self.capacityPerSource = max(1, capacityPerSource)
        self.now = now
    }

    /// Registration outcome.
    public enum RegisterResult: Sendable, Equatable {
        case registered(id: String)
        case full
        /// The source address has ``capacityPerSource`` peers registered already.
        case sourceFull
    }

    /// Registers `host:port` on behalf of `source` (the address the request came from),
    /// reusing the id when that endpoint is already registered. `status` (optional) is the
    /// peer's first status report: the baseline of its throughput.
    public func register(
        host: String, port: Int, name: String?, source: String, status: TrackerAPI.PeerStatus? = nil, fingerprint: CertificateFingerprint? = nil
    ) -> RegisterResult {
        let now = self.now()
        let endpoint = "\(host)|\(port)"
        if let id = idByEndpoint[endpoint], entries[id] != nil {
            entries[id]!.lastSeen = now
            entries[id]!.lastSeenWall = Date()
            if entries[id]!.name != name || entries[id]!.fingerprint != fingerprint { membershipVersion += 1 }
            entries[id]!.name = name
            entries[id]!.fingerprint = fingerprint
            if let status { _ = record(status, for: id) }
            return .registered(id: id)
        }
        if entries.count >= capacity || countBySource[source, default: 0] >= capacityPerSource {
            expire(now: now)
            if entries.count >= capacity { return .full }
            if countBySource[source, default: 0] >= capacityPerSource { return .sourceFull }
        }
        let id = Self.makeID()
        entries[id] = Entry(
            id: id, host: host, port: port, name: name, source: source, serial: nextSerial, lastSeen: now, lastSeenWall: Date(),
            status: status, statusAt: status == nil ? nil : Date(), fingerprint: fingerprint)
        nextSerial += 1
        countBySource[source, default: 0] += 1
        idByEndpoint[endpoint] = id
        membershipVersion += 1
        return .registered(id: id)
    }

    /// Refreshes `id`; returns false when the id is unknown or already expired.
    public func heartbeat(id: String) -> Bool {
        let now = self.now()
        guard let entry = entries[id] else { return false }
        if now - entry.lastSeen > ttl {
            remove(id: id)
            return false
        }
        entries[id]!.lastSeen = now
        entries[id]!.lastSeenWall = Date()
        return true
    }

    /// What a heartbeat or removal on behalf of a source address found.
    public enum OwnedChange: Sendable, Equatable {
        case done
        /// No such id (or it expired).
        case unknown
        /// The id was registered from another address: one member may not keep another's
        /// entry alive or remove it.
        case notOwner
    }

    /// Refreshes `id` when `source` (the address the request came from) is the one that
    /// registered it.
    public func heartbeat(id: String, from source: String) -> OwnedChange {
        guard let entry = entries[id] else { return .unknown }
        guard entry.source == source else { return .notOwner }
        return heartbeat(id: id) ? .done : .unknown
    }

    /// Removes `id` when `source` is the address that registered it.
    public func remove(id: String, from source: String) -> OwnedChange {
        guard let entry = entries[id] else { return .unknown }
        guard entry.source == source else { return .notOwner }
        return remove(id: id) ? .done : .unknown
    }

    /// Keeps `status` as `id`'s latest; returns the bytes it served since its previous report
    /// (`nil` for an unknown id or a first report). A counter that went down (the peer
    /// restarted) counts from zero.
    public func record(_ status: TrackerAPI.PeerStatus, for id: String) -> ServedDelta? {
        guard let entry = entries[id] else { return nil }
        let now = Date()
        entries[id]!.status = status
        entries[id]!.statusAt = now
        guard let previous = entry.status, let previousAt = entry.statusAt else { return nil }
        let bytes = status.servedBytes >= previous.servedBytes ? status.servedBytes - previous.servedBytes : status.servedBytes
        return ServedDelta(bytes: bytes, from: previousAt, to: now)
    }

    /// One peer as the dashboard shows it.
    public struct PeerView: Codable, Sendable, Hashable {
        public var id: String
        public var host: String
        public var port: Int
        public var name: String?
        /// Time of the last registration or heartbeat, ISO 8601.
        public var lastSeen: String
        /// Bytes served since the peer started, as of its last report.
        public var servedBytes: Int64?
        /// Fetches in progress at its last report.
        public var activeFetches: Int?
    }

    /// The live peers with their last status, sorted by host and port.
    public func views(limit: Int) -> [PeerView] {
        expire(now: now())
        return entries.values
            .sorted { ($0.host, $0.port) < ($1.host, $1.port) }
            .prefix(limit)
            .map {
                PeerView(id: $0.id, host: $0.host, port: $0.port, name: $0.name, lastSeen: formatter.string(from: $0.lastSeenWall),
                    servedBytes: $0.status?.servedBytes, activeFetches: $0.status?.activeFetches)
            }
    }

    /// Removes `id`; returns whether it was registered.
    @discardableResult
    public func remove(id: String) -> Bool {
        guard let entry = entries.removeValue(forKey: id) else { return false }
        idByEndpoint["\(entry.host)|\(entry.port)"] = nil
        let left = countBySource[entry.source, default: 1] - 1
        countBySource[entry.source] = left > 0 ? left : nil
        membershipVersion += 1
        return true
    }

    /// The live peers, at most `limit`, taken in turn from each registering source address
    /// (sources in random order, each source's peers oldest first), so that a source that
    /// registered many peers cannot crowd out the others: with `S` sources each one is
    /// listed at least `min(its peers, limit / S)` times.
    public func list<G: RandomNumberGenerator>(limit: Int = .max, using generator: inout G) -> [TrackerAPI.Peer] {
        expire(now: now())
        var bySource: [String: [Entry]] = [:]
        for entry in entries.values { bySource[entry.source, default: []].append(entry) }
        let queues = bySource.keys.sorted().shuffled(using: &generator).map { source in
            bySource[source]!.sorted { $0.serial < $1.serial }
        }
        var chosen: [Entry] = []
        chosen.reserveCapacity(min(limit, entries.count))
        var round = 0
        while chosen.count < limit {
            var took = false
            for queue in queues where round < queue.count {
                chosen.append(queue[round])
                took = true
                if chosen.count == limit { break }
            }
            if !took { break }
            round += 1
        }
        return chosen.map(peer)
    }

    /// ``list(limit:using:)`` with the system's random generator.
    public func list(limit: Int = .max) -> [TrackerAPI.Peer] {
        var generator = SystemRandomNumberGenerator()
        return list(limit: limit, using: &generator)
    }

    /// The `GET /v1/peers` answer (``list(limit:)``) as JSON, rebuilt at most once a second
    /// unless peers come or go.
    public func listDocument(limit: Int) throws -> ByteBuffer {
        let second = Int64(Date().timeIntervalSince1970)
        if let cached = cachedList, cached.version == membershipVersion, cached.second == second, cached.limit == limit {
            return cached.body
        }
        let peers = list(limit: limit)  // also forgets expired peers
        let body = ByteBuffer(data: try JSONEncoder().encode(TrackerAPI.PeerList(peers: peers)))
        cachedList = (membershipVersion, second, limit, body)
        return body
    }

    /// The `GET /v1/peers?file=KEY&limit=K` answer (``list(forFile:limit:)``) as JSON: an
    /// answer of this second and membership when there is one, else ranked and encoded
    /// outside the actor from a snapshot of the peers. Requests for the same file that come
    /// while it is being ranked wait for that answer (one ranking per file and second, not
    /// one per request at each second's start).
    public nonisolated func listDocument(forFile file: String, limit: Int) async throws -> ByteBuffer {
        let key = "\(limit) \(file)"
        switch await rankedAnswer(forKey: key) {
        case let .cached(body):
            return body
        case let .rank(ranking, version, second):
            let body: ByteBuffer
            do {
                body = ByteBuffer(data: try JSONEncoder().encode(TrackerAPI.PeerList(peers: ranking.list(file: file, limit: limit))))
            } catch {
                await keep(nil, forKey: key, version: version, second: second)
                throw error
            }
            await keep(body, forKey: key, version: version, second: second)
            return body
        }
    }

    /// A per-file answer: encoded, or being ranked with requests waiting for it.
    enum RankedSlot {
        case ready(ByteBuffer)
        case ranking(waiters: [CheckedContinuation<ByteBuffer?, Never>])
    }

    enum RankedAnswer: Sendable {
        case cached(ByteBuffer)
        case rank(PeerRanking, version: Int, second: Int64)
    }

    private func rankedAnswer(forKey key: String) async -> RankedAnswer {
        while true {
            let second = Int64(Date().timeIntervalSince1970)
            if cachedRanked.second != second {
                expire(now: now())  // at most once a second on this path
            }
            if cachedRanked.version != membershipVersion || cachedRanked.second != second {
                resumeWaiters(of: cachedRanked.slots, with: nil)
                cachedRanked = (membershipVersion, second, [:])
            }
            switch cachedRanked.slots[key] {
            case let .ready(body):
                return .cached(body)
            case let .ranking(waiters):
                // Another request ranks this file: its answer, or nil (it failed, or a new
                // second or membership came first) to try again.
                let answer = await withCheckedContinuation { continuation in
                    cachedRanked.slots[key] = .ranking(waiters: waiters + [continuation])
                }
                if let answer { return .cached(answer) }
            case nil:
                rankingsStarted += 1
                if cachedRanked.slots.count < Self.maxCachedRanked { cachedRanked.slots[key] = .ranking(waiters: []) }
                return .rank(currentRanking(second: second), version: membershipVersion, second: second)
            }
        }
    }

    /// Keeps the answer ranked for `key` (nil: none) and hands it to the requests waiting for it.
    private func keep(_ body: ByteBuffer?, forKey key: String, version: Int, second: Int64) {
        guard cachedRanked.version == version, cachedRanked.second == second, case let .ranking(waiters) = cachedRanked.slots[key] else { return }
        cachedRanked.slots[key] = body.map { .ready($0) }
        for waiter in waiters { waiter.resume(returning: body) }
    }

    private func resumeWaiters(of slots: [String: RankedSlot], with body: ByteBuffer?) {
        for case let .ranking(waiters) in slots.values {
            for waiter in waiters { waiter.resume(returning: body) }
        }
    }

    /// The live peers listed for the file whose key is `file` (`GET /v1/peers?file=`): the
    /// `limit` of highest ``Rendezvous/listWeight(file:peer:)``, taken in turn from each
    /// registering address (see ``PeerRanking``), highest first.
    public func list(forFile file: String, limit: Int) -> [TrackerAPI.Peer] {
        expire(now: now())
        return currentRanking(second: Int64(Date().timeIntervalSince1970)).list(file: file, limit: limit)
    }

    private func currentRanking(second: Int64) -> PeerRanking {
        if let ranking, ranking.version == membershipVersion, ranking.second == second { return ranking.ranking }
        var bySource: [String: [PeerRanking.Member]] = [:]
        for entry in entries.values {
            bySource[entry.source, default: []].append(PeerRanking.Member(
                id: entry.id, host: entry.host, port: entry.port, name: entry.name, lastSeen: entry.lastSeenWall, fingerprint: entry.fingerprint))
        }
        let built = PeerRanking(groups: bySource.keys.sorted().map { bySource[$0]! })
        ranking = (membershipVersion, second, built)
        return built
    }

    private func peer(_ entry: Entry) -> TrackerAPI.Peer {
        TrackerAPI.Peer(
            id: entry.id, host: entry.host, port: entry.port, name: entry.name, lastSeen: formatter.string(from: entry.lastSeenWall),
            fingerprint: entry.fingerprint)
    }

    /// Number of registered peers (including any not yet swept).
    public var count: Int { entries.count }

    /// Forgets every peer whose TTL has passed; returns how many.
    @discardableResult
    public func expire(now: ContinuousClock.Instant) -> Int {
        var removed = 0
        for (id, entry) in entries where now - entry.lastSeen > ttl {
            remove(id: id)
            removed += 1
        }
        return removed
    }

    /// Forgets expired peers as of now; returns how many.
    @discardableResult
    public func sweep() -> Int { expire(now: now()) }

    /// Number of live peers (expired ones are forgotten first).
    public func liveCount() -> Int {
        expire(now: now())
        return entries.count
    }

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
