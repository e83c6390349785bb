import AsyncHTTPClient
import DDLCore
import Foundation
import DDLServerSupport
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Serves `GET /v1/fetch?url=…` with `Range: bytes=a-b`: fetches that range from the origin
/// and streams it to the caller as it arrives (cut-through, back-pressure both ways).
struct OriginFetcher: Sendable {
    /// The peer's own origin client (no redirects), for `http` origins.
    let sharedOriginClient: HTTPClient
    let limiter: FetchLimiter
    let configuration: PeerConfiguration
    let logger: Logger
    let stats: PeerStats
    let metrics: PeerMetrics
    /// The cache of fetched ranges, when on.
    var cache: PeerCache?
    /// Resolves origin host names (`getaddrinfo`; tests inject answers).
    var resolver: HostResolver = .system
    /// The SSRF guard every origin URL and redirect target passes.
    var urlPolicy: URLPolicy { URLPolicy(addresses: AddressPolicy(allowNetworks: configuration.allowNetworks), resolver: resolver) }

    /// The `url` query parameter (`http`/`https`) and the single `Range` of a fetch or
    /// preheat request, or the `400` that says what is wrong.
    func target(of request: Request) -> Result<(url: String, range: ByteRange), ProblemResponse> {
        guard let url = request.uri.queryParameters.get("url"), !url.isEmpty else {
            return .failure(ProblemResponse(problem(.badRequest, type: "missing-url", "query parameter url is required")))
        }
        let lowered = url.lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://") else {
            return .failure(ProblemResponse(problem(.badRequest, type: "bad-scheme", "only http and https URLs can be fetched")))
        }
        guard let rangeHeader = request.headers[.range], let range = ByteRange.parseRangeHeader(rangeHeader) else {
            return .failure(ProblemResponse(problem(.badRequest, type: "bad-range", "a single Range: bytes=first-last header is required")))
        }
        return .success((url, range))
    }

    /// `503 busy` with `Retry-After: 1`: every fetch slot is taken.
    var busy: Response {
        var response = problem(.serviceUnavailable, type: "busy", "this peer is at its limit of \(limiter.limit) concurrent fetches")
        response.headers[.retryAfter] = "1"
        return response
    }

    func handle(_ request: Request, context: DDLRequestContext) async -> Response {
        let started = ContinuousClock.now
        let (url, range): (String, ByteRange)
        switch target(of: request) {
        case let .failure(refusal): return refusal.response
        case let .success(found): (url, range) = found
        }
        guard limiter.tryAcquire() else { return busy }
        if let cache, let key = cache.key(url: url, ifRange: request.headers[.ifRange]) {
            return await cachedResponse(url: url, range: range, key: key, cache: cache, context: context, started: started)
        }
        var released = false
        defer { if !released { limiter.release() } }

        let opened: OpenedOrigin
        switch await openOrigin(url: url, range: range, ifRange: request.headers[.ifRange]) {
        case let .failed(response): return response
        case let .opened(origin): opened = origin
        }
        let served = opened.served
        var headers = HTTPFields()
        headers[.contentRange] = served.contentRangeHeader(total: opened.total)
        headers[.contentLength] = String(served.count)
        if let etag = opened.etag { headers[.eTag] = etag }
        if let lastModified = opened.lastModified { headers[.lastModified] = lastModified }
        released = true
        let expected = served.count
        // The loop runs on the caller's connection's event loop, so that the channel's
        // writability bounds the bytes in flight (see EventLoopTaskExecutor).
        let executor = EventLoopTaskExecutor(context.eventLoop)
        let body = ResponseBody(contentLength: Int(expected)) { [limiter, stats, metrics, logger] writer in
            defer {
                limiter.release()
                opened.client.release()
            }
            try await withTaskExecutorPreference(executor) {
                try await forward(opened.response.body, to: &writer, expected: expected, served: served, url: url, stats: stats, metrics: metrics, logger: logger)
            }
            metrics.fetchFinished(startedAt: started)
            try await writer.finish(nil)
        }
        return Response(status: .partialContent, headers: headers, body: body)
    }

    /// What asking the origin for a range gave: an answer to stream, or the error response
    /// for the caller.
    enum OriginOpening {
        case opened(OpenedOrigin)
        case failed(Response)
    }

    /// Asks the origin for `range` of `url`, following redirects after checking each hop,
    /// and checks the answer (`206` with the requested `Content-Range`).
    func openOrigin(url: String, range: ByteRange, ifRange: String?) async -> OriginOpening {
        // Each hop is checked by the SSRF guard and sent to the address that passed; redirects
        // are followed here (at most 5), never by the HTTP client.
        let deadline = NIODeadline.now() + .seconds(Int64(configuration.originConnectTimeoutSeconds + configuration.originReadTimeoutSeconds))
        var target = url
        var hops = 0
        var originClient: PinnedOriginClient
        var originResponse: HTTPClientResponse
        while true {
            let pinned: URLPolicy.Pinned
            do {
                pinned = try await urlPolicy.check(target)
            } catch {
                return .failed(refusalResponse(error, url: target, redirected: hops > 0))
            }
            // Every checked address in turn, until one answers (a dead first address of a
            // host with several is not the end of the fetch).
            var answer: (PinnedOriginClient, HTTPClientResponse)?
            for (index, address) in pinned.addresses.enumerated() {
                let client: PinnedOriginClient
                do {
                    client = try PinnedOriginClient(pinned: pinned, address: address, url: target, configuration: configuration, shared: sharedOriginClient)
                } catch {
                    return .failed(refusalResponse(error, url: target, redirected: hops > 0))
                }
                do {
                    answer = (client, try await client.client.execute(originRequest(for: client, range: range, ifRange: ifRange), deadline: deadline, logger: logger))
                    break
                } catch {
                    client.release()
                    let timedOut = (error as? HTTPClientError).map { $0 == .deadlineExceeded || $0 == .readTimeout || $0 == .connectTimeout } ?? false
                    logger.info("origin request failed", metadata: [
                        "url": "\(redacted(target))", "address": "\(address)", "error": "\(error)", "addresses.left": "\(pinned.addresses.count - index - 1)",
                    ])
                    let deadlinePassed = (error as? HTTPClientError) == .deadlineExceeded
                    guard index == pinned.addresses.count - 1 || deadlinePassed || Task.isCancelled else { continue }
                    if timedOut {
                        return .failed(problem(.gatewayTimeout, type: "origin-timeout", "the origin did not answer in time"))
                    }
                    return .failed(problem(.badGateway, type: "origin-unreachable", "cannot reach the origin: \(error)"))
                }
            }
            guard let answer else { return .failed(problem(.badGateway, type: "origin-unreachable", "cannot reach the origin")) }
            (originClient, originResponse) = answer
            guard [301, 302, 303, 307, 308].contains(Int(originResponse.status.code)),
                  let location = originResponse.headers.first(name: "Location") else { break }
            _ = try? await originResponse.body.collect(upTo: 64 * 1024)
            originClient.release()
            hops += 1
            guard hops <= 5 else {
                return .failed(problem(.badGateway, type: "origin-redirects", "the origin redirected more than 5 times"))
            }
            guard let next = URL(string: location, relativeTo: pinned.url)?.absoluteURL.absoluteString else {
                return .failed(problem(.badGateway, type: "origin-redirect", "the origin redirected to an invalid URL"))
            }
            target = next
        }
        let status = Int(originResponse.status.code)
        guard status == 206 else {
            originClient.release()
            if status == 200 {
                return .failed(problem(.preconditionFailed, type: "origin-ignored-range",
                    "the origin answered 200 instead of 206: it ignored Range, or the file changed (If-Range)", originStatus: 200))
            }
            return .failed(problem(.badGateway, type: "origin-status", "the origin answered HTTP \(status)", originStatus: status))
        }
        guard let contentRange = originResponse.headers.first(name: "Content-Range").flatMap(ContentRange.init),
              let served = contentRange.range, served == range || (served.first == range.first && served.last < range.last)
        else {
            originClient.release()
            return .failed(problem(.badGateway, type: "origin-content-range", "the origin's Content-Range does not match the requested range", originStatus: status))
        }
        return .opened(OpenedOrigin(
            client: originClient, response: originResponse, served: served, total: contentRange.total,
            etag: originResponse.headers.first(name: "ETag"), lastModified: originResponse.headers.first(name: "Last-Modified")))
    }
}

/// An origin's `206` answer, ready to stream; its connection goes back with `client.release()`.
struct OpenedOrigin: Sendable {
    let client: PinnedOriginClient
    let response: HTTPClientResponse
    /// The bytes it carries (the request's range, or less at the end of the file).
    let served: ByteRange
    /// The file's length, when the origin said.
    let total: Int64?
    let etag: String?
    let lastModified: String?
}

/// Streams `expected` bytes of an origin body to the caller, then ends the response.
func forward(
    _ originBody: HTTPClientResponse.Body, to writer: inout any ResponseBodyWriter, expected: Int64, served: ByteRange,
    url: String, stats: PeerStats, metrics: PeerMetrics, logger: Logger
) async throws {
    var sent: Int64 = 0
    do {
        for try await var chunk in originBody {
            metrics.receivedFromOrigin(chunk.readableBytes)
            let room = expected - sent
            if Int64(chunk.readableBytes) > room {
                chunk = chunk.getSlice(at: chunk.readerIndex, length: Int(room)) ?? chunk
            }
            sent += Int64(chunk.readableBytes)
            try await writer.write(chunk)
            stats.add(bytes: Int64(chunk.readableBytes))
            metrics.served(chunk.readableBytes, from: .origin)
            if sent >= expected { break }
        }
    } catch {
        logger.info("fetch aborted", metadata: ["url": "\(redacted(url))", "range": "\(served)", "sent": "\(sent)", "error": "\(error)"])
        throw error
    }
    guard sent == expected else {
        logger.info("origin ended early", metadata: ["url": "\(redacted(url))", "range": "\(served)", "sent": "\(sent)"])
        throw OriginEndedEarly()
    }
}

struct OriginEndedEarly: Error {}

/// `url` as the peer logs it: without query string, fragment and user info, where a caller's
/// signature or password would be (the peer's logs are not the caller's).
func redacted(_ url: String) -> String { TrackerAPI.DownloadReport.redact(url) }

extension OriginFetcher {
    /// The origin request for `range` through `client` (pinned URL, `Host`, `If-Range`).
    func originRequest(for client: PinnedOriginClient, range: ByteRange, ifRange: String?) -> HTTPClientRequest {
        var originRequest = HTTPClientRequest(url: client.requestURL)
        if let hostHeader = client.hostHeader { originRequest.headers.add(name: "Host", value: hostHeader) }
        originRequest.headers.add(name: "Range", value: range.rangeHeader)
        originRequest.headers.add(name: "User-Agent", value: "ddl-peer")
        if let ifRange { originRequest.headers.add(name: "If-Range", value: ifRange) }
        return originRequest
    }
}

extension OriginFetcher {
    /// `403 forbidden-address` for the SSRF guard's refusals, `400`/`502` for the rest.
    func refusalResponse(_ refusal: URLPolicy.Refusal, url: String, redirected: Bool) -> Response {
        let prefix = redirected ? "the origin redirected to a refused URL: " : ""
        switch refusal {
        case let .forbidden(host, rule):
            logger.info("origin refused by the address policy", metadata: [
                "url": "\(redacted(url))", "host": "\(host)", "address": "\(rule.address)", "rule": "\(rule.rule)", "redirected": "\(redirected)",
            ])
            return problem(.forbidden, type: "forbidden-address", prefix + refusal.description)
        case .badScheme, .badURL:
            logger.info("origin URL refused", metadata: ["url": "\(redacted(url))", "reason": "\(refusal)", "redirected": "\(redirected)"])
            if redirected { return problem(.badGateway, type: "origin-redirect", prefix + refusal.description) }
            return problem(.badRequest, type: refusal.isScheme ? "bad-scheme" : "bad-url", refusal.description)
        case .unresolvable:
            logger.info("origin host does not resolve", metadata: ["url": "\(redacted(url))", "reason": "\(refusal)"])
            return problem(.badGateway, type: "origin-unreachable", prefix + refusal.description)
        }
    }
}

extension URLPolicy.Refusal {
    var isScheme: Bool {
        if case .badScheme = self { return true }
        return false
    }
}

/// Counters a peer keeps about what it served.
public final class PeerStats: Sendable {
    private let served = Atomic<Int64>(0)
    public init() {}
    func add(bytes: Int64) { served.add(bytes, ordering: .relaxed) }
    /// Body bytes streamed to callers.
    public var bytesServed: Int64 { served.load(ordering: .relaxed) }
}

/// An error answer carried in a `Result`.
struct ProblemResponse: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}
