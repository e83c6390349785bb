/// Which of the digests found a download is checked against, and what the others say.
///
/// One digest is verified, the first in this order:
/// 1. the user's `--checksum` (with it, nothing else is looked for);
/// 2. SHA-512 or SHA-256 before MD5 (collisions in MD5 can be made at will);
/// 3. of those, one whose algorithm is computed during the transfer anyway (the SHA-256, or
///    the algorithm the headers stated) before one that needs the file read back once more;
/// 4. SHA-512 before SHA-256;
/// 5. the source: the answer's own headers (they describe the very bytes sent), then a
///    checksum file for this file alone, then a listing of many files (the likeliest to be
///    stale); see ``PublishedDigest/Source/rank``.
///
/// Every other digest whose algorithm was computed is compared with the file too, and every
/// disagreement is reported as a conflict; it does not fail the download (the digest chosen
/// decides), but it is shown loudly.
package struct DigestChoice: Sendable {
    /// The digest the file is checked against, if any was found.
    package let expected: PublishedDigest?
    /// The other digests found, distinct from `expected` and from each other.
    package let others: [PublishedDigest]

    /// - Parameters:
    ///   - found: every digest found.
    ///   - computed: the algorithms computed during the transfer.
    package init(_ found: [PublishedDigest], computed: Set<ExpectedChecksum.Algorithm>) {
        var distinct: [PublishedDigest] = []
        for digest in found.sorted(by: { $0.source.rank < $1.source.rank })
        where !distinct.contains(where: { $0.algorithm == digest.algorithm && $0.hex == digest.hex }) {
            distinct.append(digest)
        }
        func key(_ digest: PublishedDigest) -> (Int, Int, Int, Int, Int) {
            (
                digest.source == .user ? 1 : 0,
                digest.algorithm == .md5 ? 0 : 1,
                computed.contains(digest.algorithm) ? 1 : 0,
                digest.algorithm.strength,
                -digest.source.rank
            )
        }
        let best = distinct.indices.max { key(distinct[$0]) < key(distinct[$1]) }
        expected = best.map { distinct[$0] }
        others = best.map { index in distinct.enumerated().filter { $0.offset != index }.map(\.element) } ?? []
    }

    /// What contradicts the file's `digests` or each other among the digests not chosen: one
    /// sentence each.
    package func conflicts(with digests: Digests) -> [String] {
        var sentences: [String] = []
        var unchecked: [ExpectedChecksum.Algorithm: [PublishedDigest]] = [:]
        for other in others {
            if let actual = digests[other.algorithm] {
                if actual != other.hex {
                    sentences.append("\(other.source) states \(other.algorithm.rawValue) \(Self.short(other.hex)) for this file, but its \(other.algorithm.rawValue) is \(Self.short(actual))")
                }
            } else {
                unchecked[other.algorithm, default: []].append(other)
            }
        }
        for algorithm in ExpectedChecksum.Algorithm.allCases {
            guard let digests = unchecked[algorithm], Set(digests.map(\.hex)).count > 1 else { continue }
            let stated = digests.map { "\($0.source) \(Self.short($0.hex))" }.joined(separator: ", ")
            sentences.append("the published \(algorithm.rawValue) digests disagree (\(stated))")
        }
        return sentences
    }

    /// The digests among the others that the file matches (for a mismatch's message).
    package func othersMatching(_ digests: Digests) -> [PublishedDigest] {
        others.filter { digests[$0.algorithm] == $0.hex }
    }

    /// The first 16 hex digits and an ellipsis.
    static func short(_ hex: String) -> String { hex.count > 16 ? String(hex.prefix(16)) + "…" : hex }
}
