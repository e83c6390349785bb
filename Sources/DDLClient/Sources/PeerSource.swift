import AsyncHTTPClient
import DDLCore
import NIOCore
import NIOHTTP1
import NIOSSL

/// A peer server (`ddl server`) fetching ranges over its own link, from the origin or from a
/// mirror (`target`), and streaming them back. Its bytes are spot-checked; its error answers
/// carry a JSON problem with the origin's status, so that an expired signed URL is told apart
/// from a peer's own trouble.
package struct PeerSource: PieceSource {
    package let host: String
    package let port: Int
    package let name: String?
    /// The file the peer fetches: the origin's, or a mirror's.
    let target: PinnedFile
    /// Whether `target` is the origin (an expired URL is then resolved again).
    let targetIsOrigin: Bool
    /// The swarm token, sent to peers only (never to an origin).
    let token: String?

    package let id: String
    /// `host:port`, with an IPv6 host in brackets: where its requests go, and its identity in
    /// the swarm's rendezvous hashing.
    package let authority: String
    /// Trusts exactly the peer's pinned certificate; `nil` for a plain-HTTP peer.
    package let tlsConfiguration: TLSConfiguration?
    /// `https://host:port` (`http://` for a plain-HTTP peer).
    package let baseURL: String

    package init(host: String, port: Int, name: String?, target: PinnedFile, targetIsOrigin: Bool, token: String?, tlsConfiguration: TLSConfiguration?) {
        self.host = host
        self.port = port
        self.name = name
        self.target = target
        self.targetIsOrigin = targetIsOrigin
        self.token = token
        self.tlsConfiguration = tlsConfiguration
        authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        baseURL = (tlsConfiguration == nil ? "http://" : "https://") + authority
        id = targetIsOrigin ? "peer \(authority)" : "peer \(authority) via \(MirrorSource.authority(of: target.current.url))"
    }
    package var trust: SourceTrust { .checked }
    package var file: RemoteFile { target.current }
    package var readsErrorBodies: Bool { true }
    package var followsRedirects: Bool { false }

    package func request(for range: ByteRange) -> HTTPClientRequest {
        let file = target.current
        var request = rangeRequest("\(baseURL)/v1/fetch?url=\(file.url.addingPathPercentEncoding())", range: range, file: file)
        request.tlsConfiguration = tlsConfiguration
        if let token { request.headers.add(name: "Authorization", value: SwarmToken.authorizationValue(token)) }
        return request
    }

    package func failure(status: Int, headers: HTTPHeaders, body: ByteBuffer?) throws(DownloadError) -> PieceFailure {
        let originStatus = body.flatMap { try? JSONDecoderShim.decode(Problem.self, from: $0) }?.originStatus
        if targetIsOrigin, let originStatus, expiredStatuses.contains(originStatus) {
            return .expired(status: originStatus, url: target.current.url)
        }
        return .status(status, originStatus: originStatus, retryAfter: RetryAfter.parse(headers.first(name: "Retry-After")))
    }

    package func checkValidator(_ etag: String?) throws {
        if let expected = target.current.etag, let etag, etag != expected {
            throw PieceFailure.badResponse("the peer relayed ETag \(etag), expected \(expected)")
        }
    }
}
