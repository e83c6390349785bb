#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address as a number.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt128)

    /// Parses a strict numeric address (`inet_pton`): dotted-quad IPv4 or IPv6, with or
    /// without brackets. Odd spellings such as `2130706433` or `0x7f.1` are not accepted
    /// here; they are resolved by `getaddrinfo` and checked as whatever it returns.
    public init?(_ text: String) {
        var text = Substring(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        var v4 = in_addr()
        if inet_pton(AF_INET, String(text), &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, String(text), &v6) == 1 {
            self = .v6(withUnsafeBytes(of: &v6) { Self.number(fromBigEndian: $0) })
            return
        }
        return nil
    }

    static func number(fromBigEndian bytes: UnsafeRawBufferPointer) -> UInt128 {
        var value: UInt128 = 0
        for byte in bytes.prefix(16) { value = value << 8 | UInt128(byte) }
        return value
    }

    /// Bits in the address.
    public var bitWidth: Int {
        switch self {
        case .v4: 32
        case .v6: 128
        }
    }

    /// The IPv4 address carried by an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
    /// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::/48`) address.
    public var embeddedIPv4: UInt32? {
        guard case let .v6(value) = self else { return nil }
        let low32 = UInt32(truncatingIfNeeded: value)
        let high96 = value >> 32
        if high96 == 0xFFFF { return low32 }  // ::ffff:0:0/96
        if high96 == 0, value > 1 { return low32 }  // ::/96 except :: and ::1
        if high96 == 0x0064_FF9B_0000_0000_0000_0000 { return low32 }  // 64:ff9b::/96
        if value >> 112 == 0x2002 { return UInt32(truncatingIfNeeded: value >> 80) }  // 2002::/16
        return nil
    }

    /// The canonical text form (`inet_ntop`), without brackets.
    public var description: String {
        switch self {
        case let .v4(value):
            return "\(value >> 24).\((value >> 16) & 0xFF).\((value >> 8) & 0xFF).\(value & 0xFF)"
        case let .v6(value):
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { raw in
                for index in 0..<16 { raw[index] = UInt8(truncatingIfNeeded: value >> UInt128(8 * (15 - index))) }
            }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return "::" }
            return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// The form to put in a URL's host: IPv6 in brackets.
    public var urlHost: String {
        switch self {
        case .v4: description
        case .v6: "[\(description)]"
        }
    }
}

/// A CIDR block such as `10.0.0.0/8` or `fd00::/8`.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    /// The network address (host bits cleared).
    public let address: IPAddress
    /// Prefix length in bits.
    public let prefixLength: Int

    /// Parses `address/prefix`, or a bare address (a single host: /32 or /128).
    public init?(_ text: String) {
        let trimmed = text.trimmingWhitespace()
        let parts = trimmed.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        var prefix = address.bitWidth
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(parts[1]),
                  (0...address.bitWidth).contains(value)
            else { return nil }
            prefix = value
        }
        self.init(address: address, prefixLength: prefix)
    }

    init(address: IPAddress, prefixLength: Int) {
        self.prefixLength = prefixLength
        switch address {
        case let .v4(value): self.address = .v4(value & Self.mask32(prefixLength))
        case let .v6(value): self.address = .v6(value & Self.mask128(prefixLength))
        }
    }

    /// Whether `address` lies in this block (IPv4 and IPv6 never match each other).
    public func contains(_ other: IPAddress) -> Bool {
        switch (address, other) {
        case let (.v4(network), .v4(value)): value & Self.mask32(prefixLength) == network
        case let (.v6(network), .v6(value)): value & Self.mask128(prefixLength) == network
        default: false
        }
    }

    public var description: String { "\(address)/\(prefixLength)" }

    static func mask32(_ prefix: Int) -> UInt32 { prefix == 0 ? 0 : UInt32.max << UInt32(32 - prefix) }
    static func mask128(_ prefix: Int) -> UInt128 { prefix == 0 ? 0 : UInt128.max << UInt128(128 - prefix) }
}

/// Which addresses a peer may connect to on a caller's behalf. Loopback, private,
/// link-local, shared (CGNAT), documentation, benchmarking, reserved, multicast and
/// broadcast addresses are refused unless they fall in ``allowNetworks``.
public struct AddressPolicy: Hashable, Sendable {
    /// Blocks that are allowed even though a rule refuses them.
    public var allowNetworks: [IPNetwork]

    public init(allowNetworks: [IPNetwork] = []) {
        self.allowNetworks = allowNetworks
    }

    /// Why an address is refused.
    public struct Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        /// The refused address.
        public var address: IPAddress
        /// The rule, e.g. `loopback`.
        public var rule: String
        /// The block to allow to let it through.
        public var network: IPNetwork

        public var description: String {
            "\(address) is \(rule); allow it with --allow-network \(network)"
        }
    }

    /// `nil` when `address` may be used, else the rule that refuses it.
    public func check(_ address: IPAddress) -> Refusal? {
        if isAllowed(address) { return nil }
        guard let (rule, network) = Self.classify(address) else { return nil }
        return Refusal(address: address, rule: rule, network: network)
    }

    private func isAllowed(_ address: IPAddress) -> Bool {
        if allowNetworks.contains(where: { $0.contains(address) }) { return true }
        if let v4 = address.embeddedIPv4, allowNetworks.contains(where: { $0.contains(.v4(v4)) }) { return true }
        return false
    }

    /// The special-purpose rule `address` falls under, if any, and its block.
    public static func classify(_ address: IPAddress) -> (rule: String, network: IPNetwork)? {
        for (network, rule) in blocked where network.contains(address) {
            return (rule, network)
        }
        if let v4 = address.embeddedIPv4, let (rule, network) = classify(.v4(v4)) {
            return ("\(rule) (as \(embeddingName(address)) IPv6)", network)
        }
        return nil
    }

    private static func embeddingName(_ address: IPAddress) -> String {
        guard case let .v6(value) = address else { return "" }
        if value >> 32 == 0xFFFF { return "IPv4-mapped" }
        if value >> 32 == 0 { return "IPv4-compatible" }
        if value >> 112 == 0x2002 { return "6to4" }
        return "NAT64"
    }

    /// The refused blocks, most specific name first where they overlap.
    static let blocked: [(IPNetwork, String)] = [
        ("0.0.0.0/8", "unspecified (\"this network\")"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("100.64.0.0/10", "shared address space (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation (TEST-NET-1)"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001:db8::/32", "documentation"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    ].map { (IPNetwork($0.0)!, $0.1) }
}

extension AddressPolicy {
    /// Parses `--allow-network` values; each entry may hold several blocks separated by
    /// commas. Throws a message naming the bad entry.
    public static func parseNetworks(_ entries: [String]) throws(InvalidNetwork) -> [IPNetwork] {
        var networks: [IPNetwork] = []
        for entry in entries {
            for part in entry.split(separator: ",") {
                let text = part.trimmingWhitespace()
                if text.isEmpty { continue }
                guard let network = IPNetwork(text) else { throw InvalidNetwork(text: text) }
                networks.append(network)
            }
        }
        return networks
    }

    /// A block that does not parse.
    public struct InvalidNetwork: Error, CustomStringConvertible {
        public var text: String
        public var description: String {
            "allow_networks: \(text) is not a network such as 192.168.1.0/24, 10.0.0.5 or fd00::/8"
        }
    }
}

extension StringProtocol {
    fileprivate func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let first = s.first, first.isWhitespace { s.removeFirst() }
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }
}
