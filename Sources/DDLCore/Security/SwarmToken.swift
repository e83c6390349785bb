/// The swarm's shared secret: tracker, peer servers and clients send it as
/// `Authorization: Bearer <token>`.
public enum SwarmToken {
    /// A fresh token: 32 bytes from the system's secure random generator, base64url without
    /// padding (43 characters).
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        while true {
            var bytes = [UInt8]()
            bytes.reserveCapacity(32)
            for _ in 0..<4 {
                let word = rng.next() as UInt64
                for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
            }
            let token = base64URL(bytes)
            // A token starting with "-" would read as an option on a command line
            // (`--token -x…`); draw again (1 time in 32 on average).
            if let first = token.first, first != "-", first != "_" { return token }
        }
    }

    /// The header value for `token`.
    public static func authorizationValue(_ token: String) -> String { "Bearer " + token }

    /// Checks that a configured token is usable: not empty, printable ASCII without spaces,
    /// at most 1024 bytes. Returns a reason when it is not.
    public static func problem(with token: String) -> String? {
        if token.isEmpty { return "the token must not be empty" }
        if token.utf8.count > 1024 { return "the token must be at most 1024 bytes" }
        if token.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            return "the token must be printable ASCII without spaces"
        }
        return nil
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out = [UInt8]()
        var index = 0
        while index < bytes.count {
            let b0 = UInt32(bytes[index])
            let b1 = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let b2 = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            let available = min(3, bytes.count - index)
            for position in 0...available {
                out.append(alphabet[Int((triple >> UInt32(18 - 6 * position)) & 0x3F)])
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
