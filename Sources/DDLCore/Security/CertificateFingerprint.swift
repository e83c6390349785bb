/// The SHA-256 of a TLS certificate's public key (its DER `SubjectPublicKeyInfo`), written
/// `sha256:` and 64 lowercase hex digits: what `ddl tracker` prints in its join commands and
/// what peers register, so that clients pin each member's key (as `kubeadm join
/// --discovery-token-ca-cert-hash` pins the cluster CA's key).
///
/// Pinning the key rather than the certificate lets a member renew its certificate with the
/// same key without changing its fingerprint.
public struct CertificateFingerprint: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let digest: [UInt8]

    /// `digest` must be 32 bytes (a SHA-256).
    public init?(digest: [UInt8]) {
        guard digest.count == 32 else { return nil }
        self.digest = digest
    }

    /// Parses `sha256:HEX` (64 hex digits, either case; colons between byte pairs, as some
    /// tools print them, are accepted too).
    public init?(_ text: String) {
        var body = Substring(text.trimmingWhitespace())
        guard body.lowercased().hasPrefix("sha256:") else { return nil }
        body = body.dropFirst("sha256:".count)
        let hex = body.filter { $0 != ":" }
        guard hex.utf8.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var high: UInt8?
        for char in hex.utf8 {
            guard let nibble = Self.nibble(char) else { return nil }
            if let h = high {
                bytes.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        self.digest = bytes
    }

    /// `sha256:` and 64 lowercase hex digits.
    public var description: String {
        let hex = Array("0123456789abcdef".utf8)
        var out = Array("sha256:".utf8)
        for byte in digest {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The digest in standard base64: the form Chromium's
    /// `--ignore-certificate-errors-spki-list` takes.
    public var base64: String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var index = 0
        while index < digest.count {
            let available = min(3, digest.count - index)
            let b0 = UInt32(digest[index])
            let b1 = available > 1 ? UInt32(digest[index + 1]) : 0
            let b2 = available > 2 ? UInt32(digest[index + 2]) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            for position in 0..<4 {
                out.append(position <= available ? alphabet[Int((triple >> UInt32(18 - 6 * position)) & 0x3F)] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = CertificateFingerprint(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "a fingerprint looks like sha256:<64 hex digits>"))
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static func nibble(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): char - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> Substring {
        var s = Substring(self)
        while let first = s.first, first.isWhitespace { s.removeFirst() }
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return s
    }
}
