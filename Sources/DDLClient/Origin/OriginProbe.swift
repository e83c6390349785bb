import AsyncHTTPClient
import DDLCore
import Logging
import NIOCore
import NIOHTTP1

/// Probes the origin: `HEAD` (falling back to `GET` with `Range: bytes=0-0`), following
/// redirects and pinning the final URL.
///
/// Any `HEAD` answer other than `2xx` — `401`, `403` and `405` included, and `404`/`410`
/// too — is only a reason to ask again with `GET Range: bytes=0-0` for the URL as given; the
/// probe fails (with the `GET`'s status, exit code 4) only when that fails as well. Object
/// stores answer `HEAD` on a URL presigned for `GET` with `403`, servers and proxies refuse
/// `HEAD` with `405` or `501`, and a router that knows only `GET` may answer it with `404`;
/// curl, wget and aria2c, which do not send `HEAD` first, download such files. Failing fast
/// on `404`/`410` would save one request only when the file really is missing, which is not
/// worth refusing a file that is there: the `GET` speaks for both methods. A `2xx` `HEAD`
/// without `Accept-Ranges: bytes` and a `Content-Length` is checked the same way.
package struct OriginProbe: Sendable {
    let httpClient: HTTPClient
    let logger: Logger
    let timeout: TimeAmount

    package init(httpClient: HTTPClient, logger: Logger, timeout: TimeAmount = .seconds(30)) {
        self.httpClient = httpClient
        self.logger = logger
        self.timeout = timeout
    }

    /// Pauses before the second and third try of a probe that could not reach the origin.
    static let retryDelays: [Duration] = [.milliseconds(500), .seconds(2)]

    /// Probes `url`; a probe that cannot reach the origin (connection refused or reset, a
    /// timeout) is tried again twice, after ``retryDelays``, as curl `--retry` and wget do.
    package func probe(_ url: String) async throws(DownloadError) -> RemoteFile {
        var delays = Self.retryDelays[...]
        while true {
            do throws(DownloadError) {
                return try await probeOnce(url)
            } catch {
                guard case .network = error, let delay = delays.popFirst() else { throw error }
                logger.info("probe failed, trying again", metadata: ["url": "\(URLIdentity.printable(url))", "error": "\(error)", "in": "\(delay)"])
                do { try await Task.sleep(for: delay) } catch { throw .interrupted }
            }
        }
    }

    private func probeOnce(_ url: String) async throws(DownloadError) -> RemoteFile {
        let lowered = url.lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://") else {
            throw .usage("only http:// and https:// URLs can be downloaded: \(URLIdentity.printable(url))")
        }
        var head = HTTPClientRequest(url: url)
        head.method = .HEAD
        let headResponse = try await execute(head)
        var file: RemoteFile
        if (200..<300).contains(headResponse.status.code) {
            file = describe(headResponse, requested: url, head: true)
            if file.acceptsRanges && file.length != nil { return file }
        } else {
            // Refused or failed: ask the URL as given again (its redirects may be one-time
            // links, as presigned ones are), and let the GET's status decide.
            logger.debug("HEAD answered \(headResponse.status.code); probing with a ranged GET", metadata: ["url": "\(URLIdentity.printable(url))"])
            file = RemoteFile(url: url, length: nil, acceptsRanges: false, etag: nil, lastModified: nil, suggestedName: nil)
        }
        // HEAD refused or inconclusive: ask for the first byte.
        var get = HTTPClientRequest(url: file.url)
        get.headers.add(name: "Range", value: "bytes=0-0")
        let response = try await execute(get)
        defer { _ = response }  // the body is discarded below
        let status = Int(response.status.code)
        switch status {
        case 206:
            var described = describe(response, requested: file.url, head: false, keeping: file.publishedDigests)
            guard let contentRange = response.headers.first(name: "Content-Range").flatMap(ContentRange.init) else {
                throw .origin("the origin answered 206 without a valid Content-Range", status: 206)
            }
            described.length = contentRange.total
            described.acceptsRanges = contentRange.total != nil
            if described.suggestedName == nil { described.suggestedName = file.suggestedName }
            file = described
        case 200:
            var described = describe(response, requested: file.url, head: false, keeping: file.publishedDigests)
            described.acceptsRanges = false
            if described.suggestedName == nil { described.suggestedName = file.suggestedName }
            file = described
        default:
            throw originStatusError(status, url: url)
        }
        // Drain at most a little of the body, then let the connection go.
        _ = try? await response.body.collect(upTo: 1)
        return file
    }

    /// The status `url` answers to `GET Range: bytes=0-0` (following no redirect), or `nil`
    /// when it cannot be reached: how this machine checks a peer's claim about the origin.
    package func rangedStatus(of url: String) async -> Int? {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Range", value: "bytes=0-0")
        request.headers.add(name: "User-Agent", value: "ddl")
        guard let response = try? await execute(request) else { return nil }
        _ = try? await response.body.collect(upTo: 1 << 16)
        return Int(response.status.code)
    }

    private func execute(_ request: HTTPClientRequest) async throws(DownloadError) -> HTTPClientResponse {
        do {
            return try await httpClient.execute(request, timeout: timeout, logger: logger)
        } catch is CancellationError {
            throw .interrupted
        } catch {
            throw .network("cannot reach the origin \(request.url): \(error)")
        }
    }

    /// What `response` says about the file; `keeping` are digests an earlier answer for the
    /// same file stated (a `HEAD` that said too little about ranges), kept beside its own.
    private func describe(_ response: HTTPClientResponse, requested: String, head: Bool, keeping earlier: [PublishedDigest] = []) -> RemoteFile {
        let finalURL = response.url?.absoluteString ?? requested
        let headers = response.headers
        let length = headers.first(name: "Content-Length").flatMap { Int64($0) }
        let ranges = headers.first(name: "Accept-Ranges")?.lowercased().contains("bytes") ?? false
        var name = headers.first(name: "Content-Disposition").flatMap(FileNameSanitizer.fileName(fromContentDisposition:))
        if name == nil, let path = response.url?.path {
            name = FileNameSanitizer.fileName(fromURLPath: path)
        }
        if name == nil { name = FileNameSanitizer.fileName(fromURLPath: pathOf(finalURL)) }
        var file = RemoteFile(
            url: finalURL, length: length, acceptsRanges: ranges,
            etag: headers.first(name: "ETag"), lastModified: headers.first(name: "Last-Modified"),
            suggestedName: name)
        let stated = DigestHeaders.digests(in: headers, status: Int(response.status.code), head: head, length: length)
        file.publishedDigests = earlier + stated.filter { !earlier.contains($0) }
        return file
    }

    private func pathOf(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return "" }
        return String(rest[slash...])
    }

    private func originStatusError(_ status: Int, url: String) -> DownloadError {
        .origin("the origin answered HTTP \(status) for \(URLIdentity.printable(url))", status: status)
    }
}
