/// A checksum the user expects the file to have: `--checksum sha-256=HEX` (also `sha-512`,
/// and `md5` for old mirrors).
public struct ExpectedChecksum: Sendable, Hashable {
    /// Supported digest algorithms.
    public enum Algorithm: String, Sendable, Hashable, CaseIterable {
        case sha256 = "sha-256"
        case sha512 = "sha-512"
        case md5

        var hexLength: Int {
            switch self {
            case .sha256: 64
            case .sha512: 128
            case .md5: 32
            }
        }
    }

    public var algorithm: Algorithm
    /// Lowercase hexadecimal digest.
    public var hex: String

    /// Parses `ALGORITHM=HEX` (`sha-256`, `sha256`, `sha-512`, `sha512`, `md5`; `:` also
    /// accepted as separator); `nil` when malformed.
    public init?(_ text: String) {
        guard let separator = text.firstIndex(where: { $0 == "=" || $0 == ":" }) else { return nil }
        let name = text[..<separator].lowercased()
        let hex = text[text.index(after: separator)...].lowercased()
        let algorithm: Algorithm
        switch name {
        case "sha-256", "sha256": algorithm = .sha256
        case "sha-512", "sha512": algorithm = .sha512
        case "md5": algorithm = .md5
        default: return nil
        }
        guard hex.count == algorithm.hexLength, hex.allSatisfy({ $0.isHexDigit }) else { return nil }
        self.algorithm = algorithm
        self.hex = hex
    }
}
