import AsyncHTTPClient
import DDLCore
import NIOCore
import NIOHTTP1

/// This machine fetching from a mirror: another URL of the same file (`ddl get URL MIRROR…`),
/// probed to the same length (and the same strong `ETag` when both have one). Its bytes are
/// spot-checked like a peer's, and whatever goes wrong with it (an error, another version of
/// the file) is its own failure, not the download's: it ends up dropped.
package struct MirrorSource: PieceSource {
    let pinned: PinnedFile
    package let id: String

    package init(file: RemoteFile) {
        pinned = PinnedFile(file)
        id = "mirror \(Self.authority(of: file.url))"
    }
    package var trust: SourceTrust { .checked }
    package var file: RemoteFile { pinned.current }

    package func request(for range: ByteRange) -> HTTPClientRequest {
        let file = pinned.current
        return rangeRequest(file.url, range: range, file: file)
    }

    package func failure(status: Int, headers: HTTPHeaders, body: ByteBuffer?) throws(DownloadError) -> PieceFailure {
        if status == 200 { return .badResponse("the mirror answered 200 to a range request with If-Range: it has another version of the file") }
        return .status(status, originStatus: nil, retryAfter: RetryAfter.parse(headers.first(name: "Retry-After")))
    }

    package func checkValidator(_ etag: String?) throws {
        if let expected = pinned.current.etag, let etag, etag != expected {
            throw PieceFailure.badResponse("the mirror's ETag became \(etag), expected \(expected)")
        }
    }

    /// `host[:port]` of a URL, for the source's name.
    static func authority(of url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        return String(rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" })
    }
}
