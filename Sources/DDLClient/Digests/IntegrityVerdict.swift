/// What the end of a download found when it compared the file with the digest it expected.
///
/// The one place the decision is made (``check(_:against:)``), so that a later step (say,
/// repairing the pieces that differ) can hook onto ``mismatch(expected:got:)``.
package enum IntegrityVerdict: Sendable, Hashable {
    /// The file has the expected digest.
    case match(PublishedDigest)
    /// It has another: `got` is the file's digest (lowercase hex) in `expected`'s algorithm;
    /// `expected.source` says where the expected one came from.
    case mismatch(expected: PublishedDigest, got: String)
    /// There was nothing to compare with: no digest given, none published, or the search off.
    case none

    /// Compares `digests` (of the file; they must include `expected`'s algorithm) with
    /// `expected`.
    package static func check(_ expected: PublishedDigest?, against digests: Digests) -> IntegrityVerdict {
        guard let expected else { return .none }
        let got = digests[expected.algorithm] ?? "(not computed)"
        return got == expected.hex ? .match(expected) : .mismatch(expected: expected, got: got)
    }
}
