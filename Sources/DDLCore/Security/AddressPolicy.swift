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

    package static func number(fromBigEndian bytes: UnsafeRawBufferPointer) -> UInt128 {
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

    /// The address itself, or the IPv4 address of an IPv4-mapped one (`::ffff:a.b.c.d`,
    /// what a dual-stack socket reports for an IPv4 peer): the same connection either way.
    public var unmapped: IPAddress {
        if case let .v6(value) = self, value >> 32 == 0xFFFF { return .v4(UInt32(truncatingIfNeeded: value)) }
        return self
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

/// Which addresses may be used, for one of two purposes (``Scope``):
///
/// - ``Scope/internet``: origins a peer fetches from on a caller's behalf (the SSRF guard).
///   Only global unicast addresses pass: every block of the IANA special-purpose registries
///   that is not globally reachable is refused, and for IPv6 everything outside `2000::/3`.
/// - ``Scope/lan``: the peer servers of a swarm (what the tracker accepts and clients connect
///   to). Private (RFC 1918), shared (CGNAT), benchmarking and unique-local addresses pass;
///   loopback, link-local (and so cloud metadata), unspecified, documentation, multicast,
///   broadcast and reserved addresses do not.
///
/// ``allowNetworks`` lets blocks through although a rule refuses them, and matches only what
/// it names: an IPv4 block also matches the IPv4-mapped forms (`::ffff:a.b.c.d`) of its
/// addresses, which are the same IPv4 connection, but no other IPv6 embedding (NAT64,
/// IPv4-compatible, 6to4); those need their IPv6 block named.
public struct AddressPolicy: Hashable, Sendable {
    /// What the addresses are for.
    public enum Scope: Sendable, Hashable {
        /// Origins on the internet: global unicast only.
        case internet
        /// Peer servers on the LAN: unicast, private addresses included.
        case lan

        /// The option that opens a refused block, named in refusals.
        public var option: String {
            switch self {
            case .internet: "--allow-network"
            case .lan: "--allow-peer-network"
            }
        }
    }

    /// Blocks that are allowed even though a rule refuses them.
    public var allowNetworks: [IPNetwork]
    /// What the addresses are for.
    public var scope: Scope

    public init(allowNetworks: [IPNetwork] = [], scope: Scope = .internet) {
        self.allowNetworks = allowNetworks
        self.scope = scope
    }

    /// Why an address is refused.
    public struct Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        /// The refused address.
        public var address: IPAddress
        /// The rule, e.g. `loopback`.
        public var rule: String
        /// The block to allow to let it through.
        public var network: IPNetwork
        /// The option that allows it.
        public var option: String = "--allow-network"

        public var description: String {
            "\(address) is \(rule); allow it with \(option) \(network)"
        }
    }

    /// `nil` when `address` may be used, else the rule that refuses it.
    public func check(_ address: IPAddress) -> Refusal? {
        if isAllowed(address) { return nil }
        guard let (rule, network) = Self.classify(address, scope: scope) else { return nil }
        return Refusal(address: address, rule: rule, network: network, option: scope.option)
    }

    /// The address itself is in an allowed block, or it is the IPv4-mapped form of an
    /// address in an allowed IPv4 block. Nothing else: `--allow-network 127.0.0.5/32` does
    /// not open `64:ff9b::127.0.0.5` or `::127.0.0.5`.
    private func isAllowed(_ address: IPAddress) -> Bool {
        if allowNetworks.contains(where: { $0.contains(address) }) { return true }
        if case let .v6(value) = address, value >> 32 == 0xFFFF,
           allowNetworks.contains(where: { $0.contains(.v4(UInt32(truncatingIfNeeded: value))) }) {
            return true
        }
        return false
    }

    /// The rule `address` falls under in `scope`, if any, and the block to allow to let it
    /// through.
    public static func classify(_ address: IPAddress, scope: Scope = .internet) -> (rule: String, network: IPNetwork)? {
        for (network, rule, lanAllows) in blocked where network.contains(address) {
            if scope == .lan && lanAllows { return nil }
            return (rule, network)
        }
        guard case let .v6(value) = address else { return nil }
        if let v4 = address.embeddedIPv4, let embedding = embedding(of: value) {
            guard let (rule, network) = classify(.v4(v4), scope: scope) else { return nil }
            // The same block, as the IPv6 addresses of this embedding carry it.
            guard case let .v4(base) = network.address else { return nil }
            let v6Network: IPNetwork
            switch embedding.name {
            case "IPv4-mapped": v6Network = network
            case "6to4": v6Network = IPNetwork(address: .v6(embedding.prefix | UInt128(base) << 80), prefixLength: 16 + network.prefixLength)
            default: v6Network = IPNetwork(address: .v6(embedding.prefix | UInt128(base)), prefixLength: 96 + network.prefixLength)
            }
            return ("\(rule) (as \(embedding.name) IPv6)", v6Network)
        }
        if globalUnicast.contains(address) { return nil }
        if scope == .lan && uniqueLocal.contains(address) { return nil }
        return ("not global unicast", IPNetwork(address: address, prefixLength: 128))
    }

    /// The IPv6 forms that carry an IPv4 address, with their prefix bits.
    private static func embedding(of value: UInt128) -> (name: String, prefix: UInt128)? {
        if value >> 32 == 0xFFFF { return ("IPv4-mapped", 0xFFFF << 32) }
        if value >> 32 == 0 { return ("IPv4-compatible", 0) }
        if value >> 32 == 0x0064_FF9B_0000_0000_0000_0000 { return ("NAT64", 0x0064_FF9B_0000_0000_0000_0000 << 32) }
        if value >> 112 == 0x2002 { return ("6to4", 0x2002 << 112) }
        return nil
    }

    private static let globalUnicast = IPNetwork("2000::/3")!
    private static let uniqueLocal = IPNetwork("fc00::/7")!

    /// The refused blocks, most specific name first where they overlap, each with whether a
    /// LAN (``Scope/lan``) allows it. IPv6 outside `2000::/3` (and, on a LAN, `fc00::/7`)
    /// that is no IPv4 embedding is refused as well.
    static let blocked: [(IPNetwork, String, Bool)] = [
        ("0.0.0.0/8", "unspecified (\"this network\")", false),
        ("10.0.0.0/8", "private (RFC 1918)", true),
        ("100.64.0.0/10", "shared address space (CGNAT)", true),
        ("127.0.0.0/8", "loopback", false),
        ("169.254.0.0/16", "link-local", false),
        ("172.16.0.0/12", "private (RFC 1918)", true),
        ("192.0.0.0/24", "IETF protocol assignments", false),
        ("192.0.2.0/24", "documentation (TEST-NET-1)", false),
        ("192.88.99.0/24", "6to4 relay anycast", false),
        ("192.168.0.0/16", "private (RFC 1918)", true),
        ("198.18.0.0/15", "benchmarking", true),
        ("198.51.100.0/24", "documentation (TEST-NET-2)", false),
        ("203.0.113.0/24", "documentation (TEST-NET-3)", false),
        ("224.0.0.0/4", "multicast", false),
        ("255.255.255.255/32", "broadcast", false),
        ("240.0.0.0/4", "reserved", false),
        ("::/128", "unspecified", false),
        ("::1/128", "loopback", false),
        ("::ffff:0:0:0/96", "IPv4-translated (SIIT)", false),
        ("64:ff9b:1::/48", "local-use NAT64", false),
        ("100::/64", "discard-only", false),
        ("2001::/23", "IETF protocol assignments (Teredo, ORCHID, benchmarking…)", false),
        ("2001:db8::/32", "documentation", false),
        ("3fff::/20", "documentation", false),
        ("5f00::/16", "segment routing (SRv6) SIDs", false),
        ("fc00::/7", "unique-local", true),
        ("fe80::/10", "link-local", false),
        ("fec0::/10", "site-local", false),
        ("ff00::/8", "multicast", false),
    ].map { (IPNetwork($0.0)!, $0.1, $0.2) }
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
