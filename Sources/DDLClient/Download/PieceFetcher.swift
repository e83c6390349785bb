import AsyncHTTPClient
import DDLCore
import Logging
import NIOCore
import NIOHTTP1

/// Why one piece attempt failed.
package enum PieceFailure: Error, CustomStringConvertible {
    /// Another copy of the piece completed first (endgame); not the source's fault.
    case superseded
    /// The source answered with an HTTP error (and maybe `Retry-After`).
    case status(Int, originStatus: Int?, retryAfter: Duration?)
    /// `206` missing or the `Content-Range` does not match the request.
    case badResponse(String)
    /// The body ended before the range did.
    case short(received: Int64, expected: Int64)
    /// Transport error or timeout.
    case transport(String)
    /// The pinned URL answered as an expired signed URL does (401, 403, 410): resolve it
    /// again from the URL the user gave.
    case expired(status: Int, url: String)

    package var description: String {
        switch self {
        case .superseded: "superseded by another copy"
        case let .status(status, origin?, _): "HTTP \(status) (origin answered \(origin))"
        case let .status(status, nil, _): "HTTP \(status)"
        case let .badResponse(reason): reason
        case let .short(received, expected): "body ended after \(received) of \(expected) bytes"
        case let .transport(reason): reason
        case let .expired(status, _): "HTTP \(status) from the pinned URL (a signed URL that expired?)"
        }
    }
}

/// Downloads one piece from one source, streaming each chunk to its offset in the part file.
struct PieceFetcher: Sendable {
    let httpClient: HTTPClient
    /// For sources that must not be followed through redirects (peers); see
    /// ``PieceSource/followsRedirects``.
    let swarmClient: HTTPClient?
    let counters: TransferCounters
    let logger: Logger
    let headTimeout: TimeAmount

    /// Where fetched bytes go.
    enum Sink {
        /// Into the part file, as far as the scheduler lets this copy write.
        case piece(PieceWriter)
        /// Only hashed (a spot check of another source's copy), not written.
        case digest(DigestBox)
    }

    /// Fetches `range` from `source`. Throws ``PieceFailure`` for problems another source may
    /// not have, and ``DownloadError`` for fatal ones.
    func fetch(range: ByteRange, from source: DownloadSource, into sink: Sink) async throws {
        let kind = source.kind
        let response: HTTPClientResponse
        let client: HTTPClient
        if kind.followsRedirects {
            client = httpClient
        } else if let swarmClient {
            client = swarmClient
        } else {
            throw PieceFailure.transport("no client that follows no redirects for \(kind.id)")  // never sent through redirects
        }
        do {
            response = try await client.execute(kind.request(for: range), timeout: headTimeout, logger: logger)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw PieceFailure.transport(String(describing: error))
        }
        let status = Int(response.status.code)
        guard status == 206 else {
            let body = kind.readsErrorBodies ? try? await response.body.collect(upTo: 16 * 1024) : nil
            throw try kind.failure(status: status, headers: response.headers, body: body)
        }
        guard let header = response.headers.first(name: "Content-Range"), let contentRange = ContentRange(header),
              contentRange.range == range, contentRange.total == nil || contentRange.total == kind.file.length
        else {
            throw PieceFailure.badResponse("Content-Range \(response.headers.first(name: "Content-Range") ?? "missing") does not match \(range)")
        }
        try kind.checkValidator(response.headers.first(name: "ETag"))

        let expected = range.count
        var received: Int64 = 0
        // What the peer says it served without the origin, counted as far as it came.
        let cached = response.headers.first(name: "DDL-Cache-Bytes").flatMap(Int64.init) ?? 0
        if case let .piece(writer) = sink, kind is PeerSource { writer.coordinator.peerAnswered(cached: cached, of: expected) }
        defer { counters.cached(min(cached, received), from: source.id) }
        do {
            for try await chunk in response.body {
                let n = Int64(chunk.readableBytes)
                guard received + n <= expected else {
                    throw PieceFailure.badResponse("body longer than the \(expected) bytes of \(range)")
                }
                switch sink {
                case let .piece(writer):
                    counters.received(chunk.readableBytes, from: source.id)
                    try writer.write(chunk, at: range.first + received)
                case let .digest(box):
                    box.update(chunk)
                    counters.verified(chunk.readableBytes, from: source.id)
                }
                received += n
            }
        } catch {
            switch error {
            case is PieceFailure, is DownloadError, is CancellationError: throw error
            default: throw PieceFailure.transport(String(describing: error))
            }
        }
        guard received == expected else {
            throw PieceFailure.short(received: received, expected: expected)
        }
    }
}

/// Writes one copy's bytes into the part file, as far as the scheduler grants: bytes other
/// copies wrote already are dropped, and a copy told to stop stops.
struct PieceWriter: Sendable {
    let coordinator: DownloadCoordinator
    let partFile: PartFile
    let piece: Int
    /// Offset of the piece in the file.
    let pieceStart: Int64
    let source: String

    /// Writes what the scheduler grants of `chunk`, which holds the bytes at file offset
    /// `offset`. Throws ``PieceFailure/superseded`` when the copy must stop.
    func write(_ chunk: ByteBuffer, at offset: Int64) throws {
        let grant = coordinator.reserveWrite(piece, by: source, at: offset - pieceStart, count: Int64(chunk.readableBytes))
        switch grant {
        case .stop:
            throw PieceFailure.superseded
        case .skip:
            return
        case let .write(skip, count):
            let slice = chunk.getSlice(at: chunk.readerIndex + Int(skip), length: Int(count))!
            do {
                try partFile.write(slice, at: offset + skip)
            } catch {
                coordinator.abortWrite(piece, by: source)
                throw error
            }
            coordinator.commitWrite(piece, by: source)
        }
    }
}

import Foundation
import NIOFoundationCompat

enum JSONDecoderShim {
    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        try JSONDecoder().decode(T.self, from: buffer)
    }
}
