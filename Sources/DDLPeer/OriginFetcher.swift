import AsyncHTTPClient
import DDLCore
import DDLServerSupport
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Serves `GET /v1/fetch?url=…` with `Range: bytes=a-b`: fetches that range from the origin
/// and streams it to the caller as it arrives (cut-through, back-pressure both ways).
struct OriginFetcher: Sendable {
    let httpClient: HTTPClient
    let limiter: FetchLimiter
    let configuration: PeerConfiguration
    let logger: Logger
    let stats: PeerStats

    func handle(_ request: Request, context: DDLRequestContext) async -> Response {
        guard let url = request.uri.queryParameters.get("url"), !url.isEmpty else {
            return problem(.badRequest, type: "missing-url", "query parameter url is required")
        }
        let lowered = url.lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://") else {
            return problem(.badRequest, type: "bad-scheme", "only http and https URLs can be fetched")
        }
        guard let rangeHeader = request.headers[.range], let range = ByteRange.parseRangeHeader(rangeHeader) else {
            return problem(.badRequest, type: "bad-range", "a single Range: bytes=first-last header is required")
        }
        guard limiter.tryAcquire() else {
            var response = problem(.serviceUnavailable, type: "busy", "this peer is at its limit of \(limiter.limit) concurrent fetches")
            response.headers[.retryAfter] = "1"
            return response
        }
        var released = false
        defer { if !released { limiter.release() } }

        var originRequest = HTTPClientRequest(url: url)
        originRequest.headers.add(name: "Range", value: range.rangeHeader)
        originRequest.headers.add(name: "User-Agent", value: "ddl-peer")
        if let ifRange = request.headers[.ifRange] {
            originRequest.headers.add(name: "If-Range", value: ifRange)
        }
        let originResponse: HTTPClientResponse
        do {
            originResponse = try await httpClient.execute(
                originRequest, timeout: .seconds(Int64(configuration.originConnectTimeoutSeconds + configuration.originReadTimeoutSeconds)), logger: logger)
        } catch {
            logger.info("origin request failed", metadata: ["url": "\(url)", "error": "\(error)"])
            if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
                return problem(.gatewayTimeout, type: "origin-timeout", "the origin did not answer in time")
            }
            return problem(.badGateway, type: "origin-unreachable", "cannot reach the origin: \(error)")
        }
        let status = Int(originResponse.status.code)
        guard status == 206 else {
            if status == 200 {
                return problem(.preconditionFailed, type: "origin-ignored-range",
                    "the origin answered 200 instead of 206: it ignored Range, or the file changed (If-Range)", originStatus: 200)
            }
            return problem(.badGateway, type: "origin-status", "the origin answered HTTP \(status)", originStatus: status)
        }
        guard let contentRange = originResponse.headers.first(name: "Content-Range").flatMap(ContentRange.init),
              let served = contentRange.range, served == range || (served.first == range.first && served.last < range.last)
        else {
            return problem(.badGateway, type: "origin-content-range", "the origin's Content-Range does not match the requested range", originStatus: status)
        }

        var headers = HTTPFields()
        headers[.contentRange] = served.contentRangeHeader(total: contentRange.total)
        headers[.contentLength] = String(served.count)
        if let etag = originResponse.headers.first(name: "ETag") { headers[.eTag] = etag }
        if let lastModified = originResponse.headers.first(name: "Last-Modified") { headers[.lastModified] = lastModified }
        released = true
        let expected = served.count
        let body = ResponseBody(contentLength: Int(expected)) { [limiter, stats, logger] writer in
            defer { limiter.release() }
            var sent: Int64 = 0
            do {
                for try await var chunk in originResponse.body {
                    let room = expected - sent
                    if Int64(chunk.readableBytes) > room {
                        chunk = chunk.getSlice(at: chunk.readerIndex, length: Int(room)) ?? chunk
                    }
                    sent += Int64(chunk.readableBytes)
                    try await writer.write(chunk)
                    stats.add(bytes: Int64(chunk.readableBytes))
                    if sent >= expected { break }
                }
            } catch {
                logger.info("fetch aborted", metadata: ["url": "\(url)", "range": "\(served)", "sent": "\(sent)", "error": "\(error)"])
                throw error
            }
            guard sent == expected else {
                logger.info("origin ended early", metadata: ["url": "\(url)", "range": "\(served)", "sent": "\(sent)"])
                throw OriginEndedEarly()
            }
            try await writer.finish(nil)
        }
        return Response(status: .partialContent, headers: headers, body: body)
    }
}

struct OriginEndedEarly: Error {}

/// Counters a peer keeps about what it served.
public final class PeerStats: Sendable {
    private let served = Atomic<Int64>(0)
    public init() {}
    func add(bytes: Int64) { served.add(bytes, ordering: .relaxed) }
    /// Body bytes streamed to callers.
    public var bytesServed: Int64 { served.load(ordering: .relaxed) }
}
