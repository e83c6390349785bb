import AsyncHTTPClient
import Foundation
import Synchronization

/// A one-request HTTP client that can only reach the address the SSRF guard checked.
///
/// - `http`: the request URL's host is replaced by the checked IP literal and the `Host`
///   header carries the original host, so no name is resolved again.
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

    init(pinned: URLPolicy.Pinned, url: String, configuration: PeerConfiguration) {
        var clientConfiguration = PeerServer.originClientConfiguration(configuration: configuration)
        clientConfiguration.redirectConfiguration = .disallow
        if pinned.scheme == "http" {
            requestURL = pinned.addressURL
            hostHeader = pinned.hostHeader
        } else {
            requestURL = url
            hostHeader = nil
            // The same parse AsyncHTTPClient does, so the override key is the host it connects to.
            if var host = URL(string: url)?.host, !host.isEmpty {
                if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                clientConfiguration.dnsOverride = [host: pinned.address.description]
            }
        }
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    }

    /// Shuts the client down (once).
    func release() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        client.shutdown { _ in }
    }

    deinit { release() }
}
