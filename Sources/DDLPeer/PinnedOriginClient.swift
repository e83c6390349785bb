import AsyncHTTPClient
import DDLCore
import Foundation
import Synchronization

/// An HTTP client for one origin request that can only reach the address the SSRF guard
/// checked.
///
/// - `http`: the request URL's host is replaced by the checked IP literal and the `Host`
///   header carries the original host, so no name is resolved again. The peer's shared
///   origin client is used, so keep-alive connections are reused per address.
/// - `https`: the URL keeps its host name (for SNI and certificate validation) and the
///   client's `dnsOverride` maps that name to the checked IP, so again nothing is resolved
///   again.
///
/// Redirects are never followed by the client (the fetcher checks each hop). The client is
/// shut down by ``release()``, at the latest when the last reference goes away.
final class PinnedOriginClient: Sendable {
    let client: HTTPClient
    /// URL to send the request to.
    let requestURL: String
    /// `Host` header to send, for `http`.
    let hostHeader: String?
    private let released = Atomic<Bool>(false)
    /// Whether this object created `client` (and so shuts it down).
    private let owned: Bool

    /// - Parameters:
    ///   - address: one of `pinned`'s checked addresses, the one to connect to.
    ///   - shared: the peer's origin client (redirects disallowed), used for `http`.
    /// - Throws: ``URLPolicy/Refusal/badURL(_:)`` when the URL cannot carry `address` (never
    ///   falls back to the unpinned name).
    init(pinned: URLPolicy.Pinned, address: IPAddress, url: String, configuration: PeerConfiguration, shared: HTTPClient) throws(URLPolicy.Refusal) {
        var clientConfiguration = PeerServer.originClientConfiguration(configuration: configuration)
        clientConfiguration.redirectConfiguration = .disallow
        if pinned.scheme == "http" {
            guard let addressURL = pinned.addressURL(for: address) else {
                throw .badURL("the URL cannot be rebuilt around the checked address")
            }
            requestURL = addressURL
            hostHeader = pinned.hostHeader
            client = shared
            owned = false
            return
        } else {
            requestURL = url
            hostHeader = nil
            // The same parse AsyncHTTPClient does, so the override key is the host it connects to.
            if var host = URL(string: url)?.host, !host.isEmpty {
                if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                clientConfiguration.dnsOverride = [host: address.description]
            }
        }
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        owned = true
    }

    /// Shuts the client down (once) if this object created it.
    func release() {
        guard owned, !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        client.shutdown { _ in }
    }

    deinit { release() }
}
