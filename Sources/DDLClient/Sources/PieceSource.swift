import AsyncHTTPClient
import DDLCore
import NIOCore
import NIOHTTP1

/// How far a source's bytes are trusted.
package enum SourceTrust: Sendable, Hashable {
    /// The URL the user gave, fetched by this machine: what other sources are checked against.
    case authoritative
    /// Everything else (a peer, a mirror): its bytes are spot-checked (`--verify-peers`).
    case checked
}

/// A kind of place pieces come from: how to ask it for a range, what its answers mean, how
/// patient to be with it and how far to trust its bytes. The origin, a mirror and a peer are
/// the kinds there are; adding one is one new conforming type.
package protocol PieceSource: Sendable {
    /// Stable identifier, used by the scheduler, in events and in the summary.
    var id: String { get }
    var trust: SourceTrust { get }
    /// Failures in a row before the source is dropped from the download (`nil`: the
    /// scheduler's default).
    var maxConsecutiveFailures: Int? { get }
    /// The file as this source serves it: its length and the validators its answers must
    /// carry. Read anew for every request (a re-resolved signed URL replaces it).
    var file: RemoteFile { get }
    /// The request for `range` of the file.
    func request(for range: ByteRange) -> HTTPClientRequest
    /// Whether an error answer's body is worth reading (a peer's JSON problem).
    var readsErrorBodies: Bool { get }
    /// Whether redirects in its answers are followed (an origin's or a mirror's), or are an
    /// error answer like any other (a peer's: the peer follows the origin's redirects itself,
    /// so a redirect from a peer is the peer's own and would send the swarm token and this
    /// machine's requests wherever it likes).
    var followsRedirects: Bool { get }
    /// What an answer other than `206` means: a ``PieceFailure`` of this source, or a
    /// ``DownloadError`` (thrown) when the whole download must stop.
    func failure(status: Int, headers: HTTPHeaders, body: ByteBuffer?) throws(DownloadError) -> PieceFailure
    /// Checks the `ETag` of a `206` answer; throws a ``PieceFailure`` or a ``DownloadError``.
    func checkValidator(_ etag: String?) throws
}

extension PieceSource {
    package var maxConsecutiveFailures: Int? { nil }
    package var readsErrorBodies: Bool { false }
    package var followsRedirects: Bool { true }

    /// `Range`, `If-Range` (the file's validator) and `User-Agent` for a request of `range`
    /// of `url`.
    func rangeRequest(_ url: String, range: ByteRange, file: RemoteFile) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Range", value: range.rangeHeader)
        if let validator = file.ifRangeValidator { request.headers.add(name: "If-Range", value: validator) }
        request.headers.add(name: "User-Agent", value: "ddl")
        return request
    }
}

/// Statuses with which an origin says a signed URL has expired (or lost its permission).
let expiredStatuses: Set<Int> = [401, 403, 410]
