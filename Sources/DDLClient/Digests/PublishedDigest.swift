/// A digest of the whole file that its publisher states somewhere: in a header of the
/// origin's answer, in a checksum file next to it, or given by the user (`--checksum`).
public struct PublishedDigest: Sendable, Hashable {
    /// Where a digest was found; the order of the cases is the order of trust among digests
    /// of one algorithm (see ``rank``).
    public enum Source: Sendable, Hashable, CustomStringConvertible {
        /// `--checksum ALG=HEX` (or the config key `checksum`).
        case user
        /// A header of the origin's own answer for the file: `Repr-Digest`, `Content-Digest`,
        /// `x-amz-checksum-sha256` or `Digest`.
        case header(String)
        /// A checksum file next to the file (`FILE.sha256`, `SHA256SUMS`…), by its name.
        case sidecar(String)

        public var description: String {
            switch self {
            case .user: "--checksum"
            case let .header(name): name
            case let .sidecar(name): name
            }
        }

        /// Lower is more trusted: the user, then the headers of the very answer that carried
        /// the file (they describe those bytes), then a checksum file for this file alone,
        /// then a listing of many files (the likeliest to be stale).
        var rank: Int {
            switch self {
            case .user: 0
            case let .header(name): 10 + (Self.headerOrder.firstIndex(of: name.lowercased()) ?? Self.headerOrder.count)
            case let .sidecar(name): name.uppercased().hasSuffix("SUMS") ? 30 : 20
            }
        }

        /// Headers in order of trust: the RFC 9530 fields, then S3's, then RFC 3230's.
        static let headerOrder = ["repr-digest", "content-digest", "x-amz-checksum-sha256", "digest"]
    }

    public var algorithm: ExpectedChecksum.Algorithm
    /// Lowercase hexadecimal digest.
    public var hex: String
    public var source: Source

    public init(algorithm: ExpectedChecksum.Algorithm, hex: String, source: Source) {
        self.algorithm = algorithm
        self.hex = hex.lowercased()
        self.source = source
    }

    /// `algorithm` with `bytes`, or `nil` when the length is wrong for the algorithm.
    init?(algorithm: ExpectedChecksum.Algorithm, bytes: some Collection<UInt8>, source: Source) {
        guard bytes.count * 2 == algorithm.hexLength else { return nil }
        self.init(algorithm: algorithm, hex: bytes.hexString, source: source)
    }

    /// `algorithm` with the hexadecimal `text`, or `nil` when it is not hex of the right length.
    init?(algorithm: ExpectedChecksum.Algorithm, hexText text: some StringProtocol, source: Source) {
        guard text.count == algorithm.hexLength, text.allSatisfy(\.isHexDigit) else { return nil }
        self.init(algorithm: algorithm, hex: String(text), source: source)
    }

    /// Says `sha-256 from SHA256SUMS`.
    public var summary: String { "\(algorithm.rawValue) from \(source)" }
}

extension ExpectedChecksum.Algorithm {
    /// Preference among algorithms: SHA-512 over SHA-256 over MD5 (collisions in MD5 can be
    /// made at will, so it only catches accidents).
    var strength: Int {
        switch self {
        case .sha512: 3
        case .sha256: 2
        case .md5: 1
        }
    }
}
