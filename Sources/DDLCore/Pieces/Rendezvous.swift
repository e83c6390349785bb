/// Rendezvous (highest random weight) hashing: every client computes the same owner for a
/// piece of a file from the same list of peers, without talking to anyone, and when a peer
/// joins or leaves only the pieces it owned (or wins) change hands.
///
/// ddl uses it so that the clients of a swarm ask the same peer for the same bytes: that
/// peer fetches them from the origin once and serves every other client from its cache or
/// its running fetch (single flight), while the pieces, and so the origin fetches, spread
/// evenly over all the peers' links.
package enum Rendezvous {
    /// The owner of the bytes starting at `offset` of the file `file` (its URL and validator)
    /// among `candidates` (peer identities such as `host:port`), or `nil` without candidates.
    package static func owner(file: String, offset: Int64, among candidates: [String]) -> String? {
        var best: (weight: UInt64, candidate: String)?
        let fileHash = fnv1a(file)
        for candidate in candidates {
            let weight = self.weight(file: fileHash, candidate: mix(fnv1a(candidate)), offset: offset)
            if best == nil || weight > best!.weight || (weight == best!.weight && candidate < best!.candidate) {
                best = (weight, candidate)
            }
        }
        return best?.candidate
    }

    /// The owners of a file's pieces (`pieces`, in order) among `candidates`, each piece to
    /// its highest-weight candidate (as ``owner(file:offset:among:)``) that still has room:
    /// rendezvous hashing with bounded loads. Pieces of each size (a plan's bulk pieces, its
    /// finer tail) are shared out on their own: a candidate has room for a piece while its
    /// pieces of that size so far and this one stay within an equal share of their bytes,
    /// rounded up; when no candidate has room (the last pieces may not fit exactly), the
    /// piece goes to the least loaded one (the highest weight among equals). So every
    /// candidate owns its share of the bulk and of the tail, give or take one piece of each,
    /// where plain rendezvous hashing gives some of them a third more than others at a few
    /// dozen pieces: each owner fetches its pieces over its own link, and the swarm would wait
    /// for the busiest. (Sharing out the tail on its own keeps small pieces at every owner
    /// for the end, where they even out the sources' finish.) Every client that sees the same
    /// candidates (in any order) computes the same owners; when one leaves or joins, its
    /// pieces change hands and a few others with them (those that the bounds pushed away from
    /// their first choice, or now push).
    package static func balancedOwners(file: String, pieces: [ByteRange], among candidates: [String]) -> [String] {
        let names = Array(Set(candidates)).sorted()
        guard !names.isEmpty else { return [] }
        let fileHash = fnv1a(file)
        let hashes = names.map { mix(fnv1a($0)) }
        var shares: [Int64: Int64] = [:]
        for piece in pieces { shares[piece.count, default: 0] += piece.count }
        shares = shares.mapValues { ($0 + Int64(names.count) - 1) / Int64(names.count) }
        var loads: [Int64: [Int64]] = shares.mapValues { _ in Array(repeating: 0, count: names.count) }
        return pieces.map { piece in
            let size = piece.count
            let (share, load) = (shares[size]!, loads[size]!)
            let weights = hashes.map { weight(file: fileHash, candidate: $0, offset: piece.first) }
            // (names are sorted: among equal weights the first wins, as in `owner`.)
            let heavier = { (a: Int, b: Int) in weights[a] > weights[b] || (weights[a] == weights[b] && a < b) }
            let chosen = names.indices.filter { load[$0] + size <= share }.min(by: heavier)
                ?? names.indices.min { load[$0] < load[$1] || (load[$0] == load[$1] && heavier($0, $1)) }!
            loads[size]![chosen] += size
            return names[chosen]
        }
    }

    /// A candidate's weight for the piece at `offset` of a file (from their hashes).
    private static func weight(file: UInt64, candidate: UInt64, offset: Int64) -> UInt64 {
        mix(file ^ candidate ^ mix(UInt64(bitPattern: offset) &+ 0x9e37_79b9_7f4a_7c15))
    }

    /// FNV-1a, 64 bits.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }

    /// SplitMix64's finalizer: spreads every input bit over the output.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

extension Rendezvous {
    /// The key a client sends the tracker for a file (`GET /v1/peers?file=KEY`): 16 hex
    /// digits of a hash of the URL without user info, query string and fragment, so that a
    /// presigned URL signed anew keeps its key and the tracker learns no signature.
    package static func fileKey(url: String) -> String {
        let hash = mix(fnv1a(TrackerAPI.DownloadReport.redact(url)))
        let text = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }

    /// The hash of a file key that ranks peers for it.
    package static func fileHash(key: String) -> UInt64 { fnv1a(key) }

    /// The hash of a listed peer (`host:port`) that ranks it: every tracker that lists the
    /// same peers ranks them the same for a file.
    package static func peerHash(host: String, port: Int) -> UInt64 { mix(fnv1a("\(host):\(port)")) }

    /// A peer's weight for a file: the tracker lists the peers of highest weight.
    package static func listWeight(file: UInt64, peer: UInt64) -> UInt64 {
        mix(file ^ peer ^ 0x6c69_7374_5f72_616e)
    }
}
