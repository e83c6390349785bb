import AsyncHTTPClient
import DDLCore
import NIOCore
import NIOHTTP1

/// This machine fetching from the origin, the URL the user gave (pinned after redirects):
/// the authority other sources are checked against. Its answers speak for the file itself:
/// a `200` to a ranged request with `If-Range`, or another `ETag`, means the file changed,
/// and a client error ends the download, except those with which a signed URL expires
/// (401, 403, 410), which send the download to resolve the URL again.
package struct OriginSource: PieceSource {
    let pinned: PinnedFile

    package init(pinned: PinnedFile) { self.pinned = pinned }

    package var id: String { "self" }
    package var trust: SourceTrust { .authoritative }
    /// The origin itself gets more patience than a peer: it is the last resort.
    package var maxConsecutiveFailures: Int? { 8 }
    package var file: RemoteFile { pinned.current }

    package func request(for range: ByteRange) -> HTTPClientRequest {
        let file = pinned.current
        return rangeRequest(file.url, range: range, file: file)
    }

    package func failure(status: Int, headers: HTTPHeaders, body: ByteBuffer?) throws(DownloadError) -> PieceFailure {
        let url = pinned.current.url
        if status == 200 {
            throw .changed("the file changed on the server (the origin answered 200 to a range request with If-Range)")
        }
        if expiredStatuses.contains(status) { return .expired(status: status, url: url) }
        if [400, 404, 416].contains(status) {
            throw .origin("the origin answered HTTP \(status) for \(URLIdentity.printable(url))", status: status)
        }
        return .status(status, originStatus: nil, retryAfter: RetryAfter.parse(headers.first(name: "Retry-After")))
    }

    package func checkValidator(_ etag: String?) throws {
        if let expected = pinned.current.etag, let etag, etag != expected {
            throw DownloadError.changed("the file changed on the server (ETag \(expected) became \(etag))")
        }
    }
}
