import AsyncHTTPClient
import DDLCore
import DDLServerSupport
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix

extension OriginFetcher {
    /// Serves `range` of `url` through the cache: stored blocks from disk, blocks another
    /// request is fetching once it has stored them, the rest from the origin (stored on the
    /// way). Called with a fetch slot taken; gives it back.
    func cachedResponse(
        url: String, range: ByteRange, key: CacheKey, cache: PeerCache, context: DDLRequestContext, started: ContinuousClock.Instant
    ) async -> Response {
        await cache.ready()
        cache.begin(key)
        let shared = cache.coverage(key, range: range)
        // Until the first segment can be served, the length (for the headers) may be unknown.
        var first: (segment: BlockPlan.Segment, file: CacheFile?, opened: OpenedOrigin?)
        planning: while true {
            let (segment, file, _) = cache.next(key, from: range.first, in: range)
            switch segment {
            case .wait(let block):
                await cache.wait(key, block: block)
                continue
            case .stored:
                if !cache.mayServe(key, url: url), let refusal = await confirm(url, key: key, at: range.first, cache: cache) {
                    cache.end(key)
                    limiter.release()
                    return refusal
                }
                first = (segment, file, nil)
            case let .fetch(bytes, claim):
                switch await openOrigin(url: url, range: bytes, ifRange: key.validator) {
                case let .failed(response):
                    cache.abandon(key, blocks: claim)
                    cache.end(key)
                    limiter.release()
                    return response
                case let .opened(origin):
                    cache.accept(key, url: url)
                    first = (segment, nil, origin)
                }
            }
            break planning
        }
        // The file's length and validators: from what is stored, else the origin's answer.
        let meta = cache.meta(key)
        let total = meta?.length ?? first.opened?.total
        var whole = range
        if let total { whole = ByteRange(first: range.first, last: min(range.last, total - 1)) }
        if total == nil, let opened = first.opened { whole = ByteRange(first: range.first, last: opened.served.last) }
        var headers = HTTPFields()
        headers[.contentRange] = whole.contentRangeHeader(total: total)
        headers[.contentLength] = String(whole.count)
        if let etag = meta?.etag ?? first.opened?.etag { headers[.eTag] = etag }
        if let lastModified = meta?.lastModified ?? first.opened?.lastModified { headers[.lastModified] = lastModified }
        headers[PeerHeaders.cacheBytes] = String(min(shared, whole.count))

        let executor = EventLoopTaskExecutor(context.eventLoop)
        let body = ResponseBody(contentLength: Int(whole.count)) { [limiter, self, whole, first] writer in
            defer {
                cache.end(key)
                limiter.release()
            }
            try await withTaskExecutorPreference(executor) {
                try await serveSegments(whole, first: first, url: url, key: key, cache: cache, writer: &writer)
            }
            metrics.fetchFinished(startedAt: started)
            try await writer.finish(nil)
        }
        return Response(status: .partialContent, headers: headers, body: body)
    }

    /// Serves `range` segment by segment into `writer`: stored blocks from disk, blocks
    /// another request fetches once stored, the rest from the origin (stored on the way).
    /// `first` is the first segment when already planned (and its origin answer, if asked).
    func serveSegments(
        _ range: ByteRange, first: (BlockPlan.Segment, CacheFile?, OpenedOrigin?)?, url: String, key: CacheKey, cache: PeerCache,
        writer: inout some ResponseBodyWriter
    ) async throws {
        var pending = first
        var cursor = range.first
        while cursor <= range.last {
            let (segment, file, opened) = pending ?? {
                let (segment, file, _) = cache.next(key, from: cursor, in: range)
                return (segment, file, nil)
            }()
            pending = nil
            switch segment {
            case let .stored(bytes, blocks):
                guard let file else { throw CacheServeError.missingFile }
                if !cache.mayServe(key, url: url), await confirm(url, key: key, at: bytes.first, cache: cache) != nil {
                    throw CacheServeError.refused
                }
                let layout = BlockPlan(length: file.meta.length)
                let result = try await NIOThreadPool.singleton.runIfActive { try file.read(bytes, blocks: blocks, layout: layout) }
                switch result {
                case let .success(buffer):
                    try await writer.write(buffer)
                    stats.add(bytes: Int64(buffer.readableBytes))
                    metrics.served(buffer.readableBytes, from: .cache)
                    cursor = bytes.last + 1
                case let .failure(corrupt):
                    await cache.discard(key, block: corrupt.block)
                }
            case let .wait(block):
                await cache.wait(key, block: block)
            case let .fetch(bytes, claim):
                var origin: OpenedOrigin
                if let opened {
                    origin = opened
                } else {
                    switch await openOrigin(url: url, range: bytes, ifRange: key.validator) {
                    case .failed:
                        cache.abandon(key, blocks: claim)
                        throw CacheServeError.originFailed
                    case let .opened(answer):
                        cache.accept(key, url: url)
                        origin = answer
                    }
                }
                cursor = try await fetchAndStore(bytes, claim: claim, origin: origin, key: key, cache: cache, writer: &writer)
                // The file ends before the range did (a preheat of a range past the end).
                if let total = origin.total, cursor >= total { return }
            }
        }
    }

    /// Fetches `bytes` from the origin (or streams `opened`, already asked), sends them to the
    /// caller and stores the whole blocks `claim`. Returns the offset after the last byte sent.
    func fetchAndStore(
        _ bytes: ByteRange, claim: Range<Int>, origin: OpenedOrigin, key: CacheKey, cache: PeerCache,
        writer: inout some ResponseBodyWriter
    ) async throws -> Int64 {
        var nextUnstored = claim.lowerBound
        defer { cache.abandon(key, blocks: nextUnstored..<claim.upperBound) }
        defer { origin.client.release() }
        // Store only what the origin vouches is the key's version, with a known length.
        var file: CacheFile?
        if !claim.isEmpty, let total = origin.total, !key.validatorIsETag || origin.etag == key.validator {
            file = await cache.file(for: key, meta: CacheFile.Meta(key: key, length: total, lastModified: origin.lastModified, etag: origin.etag))
        }
        let layout = BlockPlan(length: origin.total)
        var position = origin.served.first
        var block = ByteBuffer()
        for try await var chunk in origin.response.body {
            let room = origin.served.last + 1 - position
            metrics.receivedFromOrigin(chunk.readableBytes)
            if Int64(chunk.readableBytes) > room { chunk = chunk.getSlice(at: chunk.readerIndex, length: Int(room))! }
            try await writer.write(chunk)
            stats.add(bytes: Int64(chunk.readableBytes))
            metrics.served(chunk.readableBytes, from: .origin)
            if let file {
                var rest = chunk
                while rest.readableBytes > 0 {
                    let index = BlockPlan.block(containing: position)
                    let blockBytes = layout.range(of: index)!
                    let take = Int(min(Int64(rest.readableBytes), blockBytes.last + 1 - position))
                    if claim.contains(index) {
                        var slice = rest.getSlice(at: rest.readerIndex, length: take)!
                        block.writeBuffer(&slice)
                        if position + Int64(take) - 1 == blockBytes.last {
                            await cache.store(key, block: index, bytes: block, in: file)
                            nextUnstored = index + 1
                            block = ByteBuffer()
                        }
                    }
                    rest.moveReaderIndex(forwardBy: take)
                    position += Int64(take)
                }
            } else {
                position += Int64(chunk.readableBytes)
            }
            if position > origin.served.last { break }
        }
        guard position == origin.served.last + 1 else {
            logger.info("origin ended early", metadata: ["url": "\(key.displayURL)", "range": "\(origin.served)", "sent": "\(position - origin.served.first)"])
            throw OriginEndedEarly()
        }
        return position
    }
}

extension OriginFetcher {
    /// Asks the origin whether it serves `url` (one byte at `offset`, under `key`'s
    /// validator) before the cache serves that URL bytes it did not fetch with it: `nil` when
    /// it does (remembered, see ``PeerCache/accept(_:url:)``), else the answer for the caller,
    /// the origin's refusal. The key leaves signatures out; this keeps the origin the judge of
    /// who may read a signed object, at one byte per URL and peer.
    func confirm(_ url: String, key: CacheKey, at offset: Int64, cache: PeerCache) async -> Response? {
        switch await openOrigin(url: url, range: ByteRange(first: offset, last: offset), ifRange: key.validator) {
        case let .failed(response):
            logger.info("cache: the origin refused a URL whose file is cached", metadata: ["url": "\(key.displayURL)"])
            return response
        case let .opened(origin):
            defer { origin.client.release() }
            let body = try? await origin.response.body.collect(upTo: 64 << 10)
            metrics.receivedFromOrigin(body?.readableBytes ?? 0)
            cache.accept(key, url: url)
            return nil
        }
    }
}

/// Why a response served through the cache stopped midway (the caller sees a short body).
enum CacheServeError: Error {
    case missingFile
    case originFailed
    /// The origin refused the caller's URL (see ``OriginFetcher/confirm(_:key:at:cache:)``).
    case refused
}

/// Headers a peer adds to its answers.
package enum PeerHeaders {
    /// Bytes of the answer the peer did not fetch from the origin for it: stored in its cache
    /// or fetched by another request at the same time (single flight), counted when the
    /// answer started.
    package static let cacheBytes = HTTPField.Name("DDL-Cache-Bytes")!
}

extension OriginFetcher {
    /// `POST /v1/preheat?url=…` with `Range` and `If-Range`: fetches the range into the cache
    /// (as a fetch would, single flight included) without sending it, and answers once it is
    /// stored: `{"bytes": …, "cachedBefore": …}`. `ddl preheat` sends one per piece to the
    /// piece's owner.
    func preheat(_ request: Request, context: DDLRequestContext) async -> Response {
        guard let cache else { return problem(.notFound, type: "no-cache", "this peer keeps no cache (--no-cache)") }
        let (url, range): (String, ByteRange)
        switch target(of: request) {
        case let .failure(refusal): return refusal.response
        case let .success(found): (url, range) = found
        }
        guard let key = cache.key(url: url, ifRange: request.headers[.ifRange]) else {
            return problem(.badRequest, type: "missing-validator", "If-Range with the file's strong ETag or Last-Modified is required")
        }
        guard limiter.tryAcquire() else { return busy }
        defer { limiter.release() }
        await cache.ready()
        cache.begin(key)
        defer { cache.end(key) }
        let before = cache.coverage(key, range: range)
        var sink = DiscardingWriter()
        do {
            try await serveSegments(range, first: nil, url: url, key: key, cache: cache, writer: &sink)
        } catch {
            return problem(.badGateway, type: "preheat-failed", "the range could not be fetched from the origin: \(error)")
        }
        return (try? jsonResponse(PeerCacheAPI.PreheatResult(bytes: sink.bytes, cachedBefore: before), status: .ok)) ?? Response(status: .ok)
    }
}

/// A response body that goes nowhere (a preheat's), counting what passed.
struct DiscardingWriter: ResponseBodyWriter {
    var bytes: Int64 = 0
    mutating func write(_ buffer: ByteBuffer) async throws { bytes += Int64(buffer.readableBytes) }
    mutating func write(contentsOf buffers: some Sequence<ByteBuffer>) async throws {
        for buffer in buffers { bytes += Int64(buffer.readableBytes) }
    }
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
