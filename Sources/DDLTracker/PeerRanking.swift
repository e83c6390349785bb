import DDLCore
import Foundation

/// The live peers, grouped by the address that registered them, ranked for one file at a
/// time (`GET /v1/peers?file=KEY&limit=K`).
///
/// A client of a file needs a few dozen peers, not all of them; every client of the same file
/// must see the same ones, so that they ask the same owners for the same pieces (see
/// ``Rendezvous``); and different files should land on different peers. So the tracker lists
/// the `K` peers of highest ``Rendezvous/listWeight(file:peer:)`` for the file, taken in
/// turn from each registering address as the full list is (each address's best peer, then
/// each one's second, …), so an address that registered many peers takes no more places than
/// any other that has as many; with one peer per address (the usual case) the list is simply
/// the top `K`. Building it is `O(peers)`; ranking is about `O(peers)` for each file. It is a
/// snapshot: the tracker ranks outside its registry's actor, so rankings run on every core
/// and do not hold up registrations and heartbeats.
struct PeerRanking: Sendable {
    /// A listed peer as of the snapshot.
    struct Member: Sendable {
        var id: String
        var host: String
        var port: Int
        var name: String?
        var lastSeen: Date
        var fingerprint: CertificateFingerprint?
    }

    /// The peers, grouped by source address.
    private let members: [Member]
    /// Each peer's ``Rendezvous/peerHash(host:port:)``, in the order of `members`.
    private let hashes: [UInt64]
    /// Where each group ends in `members`.
    private let groupEnds: [Int]

    /// - Parameter groups: the peers, one array per source address, in an order that does
    ///   not depend on the tracker (by address), so that trackers with the same peers rank
    ///   them the same.
    init(groups: [[Member]]) {
        var members: [Member] = []
        var ends: [Int] = []
        members.reserveCapacity(groups.reduce(0) { $0 + $1.count })
        for group in groups where !group.isEmpty {
            members.append(contentsOf: group)
            ends.append(members.count)
        }
        self.members = members
        self.hashes = members.map { Rendezvous.peerHash(host: $0.host, port: $0.port) }
        self.groupEnds = ends
    }

    var count: Int { members.count }

    /// The `limit` peers listed for the file whose key is `file`, highest weight first.
    func list(file: String, limit: Int) -> [TrackerAPI.Peer] {
        let style = Date.ISO8601FormatStyle()
        return top(file: Rendezvous.fileHash(key: file), limit: limit).map { index in
            let member = members[index]
            return TrackerAPI.Peer(
                id: member.id, host: member.host, port: member.port, name: member.name, lastSeen: member.lastSeen.formatted(style),
                fingerprint: member.fingerprint)
        }
    }

    /// Indexes (in the order of `groups`, flattened) of the `limit` peers listed for the file,
    /// highest weight first.
    func top(file: UInt64, limit: Int) -> [Int] {
        guard limit > 0, !hashes.isEmpty else { return [] }
        let weights = hashes.map { Rendezvous.listWeight(file: file, peer: $0) }
        if hashes.count <= limit { return Self.byWeight(Array(hashes.indices), weights) }
        // Rounds: each address's best peer, then each one's second… The last round needed is
        // `rounds - 1`; the ones before it are taken whole.
        let sizes = zip(groupEnds, [0] + groupEnds).map { $0 - $1 }
        var rounds = 1
        while sizes.reduce(0, { $0 + min($1, rounds) }) < limit { rounds += 1 }
        var chosen: [Int] = []
        var lastRound: [Int] = []
        var start = 0
        for end in groupEnds {
            if end - start == 1 {
                if rounds == 1 { lastRound.append(start) } else { chosen.append(start) }
            } else {
                // Only the group's `rounds` best can be listed.
                let ranked = Self.byWeight(Self.largest(rounds, of: Array(start..<end), weights), weights)
                chosen.append(contentsOf: ranked.prefix(rounds - 1))
                if ranked.count >= rounds { lastRound.append(ranked[rounds - 1]) }
            }
            start = end
        }
        chosen += Self.largest(limit - chosen.count, of: lastRound, weights)
        return Self.byWeight(chosen, weights)
    }

    /// `indexes` sorted by weight, highest first (ties: lower index first).
    private static func byWeight(_ indexes: [Int], _ weights: [UInt64]) -> [Int] {
        indexes.sorted { weights[$0] != weights[$1] ? weights[$0] > weights[$1] : $0 < $1 }
    }

    /// The `count` indexes of highest weight among `candidates` (any order), with a bounded
    /// min-heap: `O(candidates · log count)`.
    static func largest(_ count: Int, of candidates: [Int], _ weights: [UInt64]) -> [Int] {
        guard count > 0 else { return [] }
        guard candidates.count > count else { return candidates }
        // "Below": lower weight, or the same weight and a higher index (ranks after).
        func below(_ a: Int, _ b: Int) -> Bool { weights[a] != weights[b] ? weights[a] < weights[b] : a > b }
        var heap = Array(candidates.prefix(count))
        func siftDown(_ from: Int) {
            var parent = from
            while true {
                let left = 2 * parent + 1
                guard left < heap.count else { return }
                var lowest = left
                if left + 1 < heap.count, below(heap[left + 1], heap[left]) { lowest = left + 1 }
                guard below(heap[lowest], heap[parent]) else { return }
                heap.swapAt(lowest, parent)
                parent = lowest
            }
        }
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
        for candidate in candidates.dropFirst(count) where below(heap[0], candidate) {
            heap[0] = candidate
            siftDown(0)
        }
        return heap
    }
}
