import AsyncHTTPClient
import DDLCore
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks an origin URL before the peer connects to it (SSRF guard): `http`/`https` only,
/// the host resolved once with `getaddrinfo`, and every address it resolves to checked
/// against an ``AddressPolicy``. The request is then pinned to the checked address, so a
/// second DNS answer (DNS rebinding) cannot send it elsewhere.
public struct URLPolicy: Sendable {
    /// The address rules.
    public var addresses: AddressPolicy
    /// Resolves a host name to its addresses (`getaddrinfo` unless a test injects another).
    public var resolver: HostResolver

    public init(addresses: AddressPolicy, resolver: HostResolver = .system) {
        self.addresses = addresses
        self.resolver = resolver
    }

    /// Why a URL is refused.
    public enum Refusal: Error, Sendable, CustomStringConvertible {
        /// Not `http` or `https`.
        case badScheme(String)
        /// Not a URL with a host (and a port in 1–65535).
        case badURL(String)
        /// The host did not resolve.
        case unresolvable(host: String, reason: String)
        /// An address the host resolves to is refused.
        case forbidden(host: String, AddressPolicy.Refusal)

        public var description: String {
            switch self {
            case let .badScheme(scheme): "only http and https URLs can be fetched, not \(scheme)"
            case let .badURL(reason): reason
            case let .unresolvable(host, reason): "cannot resolve \(host): \(reason)"
            case let .forbidden(host, refusal):
                // What a name resolves to stays in the peer's log: telling the caller would
                // make the peer a DNS oracle for the names only it can resolve.
                IPAddress(host) != nil
                    ? refusal.description
                    : "\(host) resolves to an address this peer may not connect to (the peer's log says which rule; \(refusal.option) opens a network)"
            }
        }
    }

    /// A URL that passed, with the address to connect to.
    public struct Pinned: Sendable {
        /// The URL as given (used to resolve relative redirects).
        public var url: URL
        /// `http` or `https`.
        public var scheme: String
        /// The host as written in the URL, without brackets.
        public var host: String
        /// The checked address the request must go to (the first of ``addresses``).
        public var address: IPAddress { addresses[0] }
        /// Every address the host resolved to, all checked, in the resolver's order; the
        /// request tries them in turn until one connects. Never empty.
        public var addresses: [IPAddress]
        /// `Host` header value: the URL's host, with the port when not the default.
        public var hostHeader: String
        let components: URLComponents

        /// For `http`: the URL with the host replaced by `address` (one of ``addresses``).
        /// `nil` when the URL cannot be rebuilt, which the caller must treat as a refusal,
        /// never as a reason to send the unpinned URL.
        public func addressURL(for address: IPAddress) -> String? {
            var pinned = components
            pinned.percentEncodedHost = address.urlHost
            return pinned.string
        }
    }

    /// Parses, resolves and checks `text`.
    public func check(_ text: String) async throws(Refusal) -> Pinned {
        guard let components = URLComponents(string: text), let url = components.url, let rawScheme = components.scheme else {
            throw .badURL("not a valid URL")
        }
        let scheme = rawScheme.lowercased()
        guard scheme == "http" || scheme == "https" else { throw .badScheme(scheme) }
        guard var host = components.host, !host.isEmpty else { throw .badURL("the URL has no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let port = components.port, !(1...65535).contains(port) { throw .badURL("the URL's port must be between 1 and 65535") }

        let resolved: [IPAddress]
        do {
            // An address needs no lookup (getaddrinfo would return it as it is).
            if let literal = IPAddress(host) {
                resolved = [literal]
            } else {
                resolved = try await resolver.resolve(host)
            }
        } catch {
            throw .unresolvable(host: host, reason: String(describing: error))
        }
        guard !resolved.isEmpty else { throw .unresolvable(host: host, reason: "no addresses") }
        for address in resolved {
            if let refusal = addresses.check(address) { throw .forbidden(host: host, refusal) }
        }
        // Connect to an IPv4-mapped address over IPv4.
        var seen = Set<IPAddress>()
        let usable = resolved.map(\.unmapped).filter { seen.insert($0).inserted }

        let defaultPort = scheme == "https" ? 443 : 80
        var hostHeader = components.percentEncodedHost ?? host
        if let port = components.port, port != defaultPort { hostHeader += ":\(port)" }
        let pinned = Pinned(url: url, scheme: scheme, host: host, addresses: usable, hostHeader: hostHeader, components: components)
        // Fail closed: a URL that cannot carry the checked address is refused here.
        guard usable.allSatisfy({ pinned.addressURL(for: $0) != nil }) else {
            throw .badURL("the URL cannot be rebuilt around the checked address")
        }
        return pinned
    }

    /// Every address `host` resolves to (`getaddrinfo` on a thread pool of its own).
    /// Numeric forms (`2130706433`, `0x7f.1`, `0177.0.0.1`, `::ffff:127.0.0.1`) come back
    /// as the addresses they stand for.
    public static func resolve(_ host: String) async throws -> [IPAddress] {
        try await resolverPool.runIfActive { try blockingResolve(host) }
    }

    /// Threads for `getaddrinfo` alone. On NIO's shared pool a lookup waited behind file
    /// syncs when a peer runs in one process with a client (`ddl demo`, the tests), and a
    /// caller's fetch timed out before its URL was even checked.
    static let resolverPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()

    struct ResolutionFailure: Error, CustomStringConvertible {
        var code: Int32
        var description: String { String(cString: gai_strerror(code)) }
    }

    static func blockingResolve(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Darwin)
        hints.ai_socktype = SOCK_STREAM
        #else
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else { throw ResolutionFailure(code: status) }
        defer { freeaddrinfo(list) }
        var result: [IPAddress] = []
        var node = list
        while let current = node {
            if let sockaddr = current.pointee.ai_addr {
                switch Int32(current.pointee.ai_family) {
                case AF_INET:
                    let address = sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                    result.append(.v4(UInt32(bigEndian: address)))
                case AF_INET6:
                    var address = sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    result.append(.v6(withUnsafeBytes(of: &address) { IPAddress.number(fromBigEndian: $0) }))
                default:
                    break
                }
            }
            node = current.pointee.ai_next
        }
        var seen = Set<IPAddress>()
        return result.filter { seen.insert($0).inserted }
    }
}

/// Resolves host names for the SSRF guard. ``system`` asks `getaddrinfo`; tests inject
/// answers (several addresses, the first dead) to exercise what the resolver cannot be made
/// to return on a test machine.
public struct HostResolver: Sendable {
    /// Every address `host` resolves to, in the order to try them.
    public var resolve: @Sendable (String) async throws -> [IPAddress]

    public init(_ resolve: @escaping @Sendable (String) async throws -> [IPAddress]) {
        self.resolve = resolve
    }

    /// `getaddrinfo` on a thread pool of its own.
    public static let system = HostResolver { try await URLPolicy.resolve($0) }
}
