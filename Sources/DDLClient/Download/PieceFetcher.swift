import AsyncHTTPClient
import DDLCore
import Logging
import NIOCore
import NIOHTTP1

/// Why one piece attempt failed.
enum PieceFailure: Error, CustomStringConvertible {
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

    var description: String {
        switch self {
        case .superseded: "superseded by another copy"
        case let .status(status, origin?, _): "HTTP \(status) (origin answered \(origin))"
        case let .status(status, nil, _): "HTTP \(status)"
        case let .badResponse(reason): reason
        case let .short(received, expected): "body ended after \(received) of \(expected) bytes"
        case let .transport(reason): reason
        }
    }
}

/// Downloads one piece from one source, streaming each chunk to its offset in the part file.
struct PieceFetcher: Sendable {
    let httpClient: HTTPClient
    let file: RemoteFile
    let counters: TransferCounters
    let logger: Logger
    let headTimeout: TimeAmount
    /// The swarm token, sent to peers only (never to the origin).
    var peerToken: String? = nil

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
        var request = HTTPClientRequest(url: source.requestURL(for: file.url))
        request.headers.add(name: "Range", value: range.rangeHeader)
        if let validator = file.ifRangeValidator { request.headers.add(name: "If-Range", value: validator) }
        request.headers.add(name: "User-Agent", value: "ddl")
        if case .peer = source, let peerToken { request.headers.add(name: "Authorization", value: SwarmToken.authorizationValue(peerToken)) }

        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: headTimeout, logger: logger)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw PieceFailure.transport(String(describing: error))
        }
        let status = Int(response.status.code)
        guard status == 206 else {
            var originStatus: Int?
            if source != .direct, let body = try? await response.body.collect(upTo: 16 * 1024),
               let problem = try? JSONDecoderShim.decode(Problem.self, from: body) {
                originStatus = problem.originStatus
            }
            if source == .direct {
                if status == 200 {
                    throw DownloadError.changed("the file changed on the server (the origin answered 200 to a range request with If-Range)")
                }
                if [400, 401, 403, 404, 410, 416].contains(status) {
                    throw DownloadError.origin("the origin answered HTTP \(status) for \(file.url)", status: status)
                }
            }
            throw PieceFailure.status(status, originStatus: originStatus, retryAfter: Self.retryAfter(response.headers.first(name: "Retry-After")))
        }
        guard let header = response.headers.first(name: "Content-Range"), let contentRange = ContentRange(header),
              contentRange.range == range, contentRange.total == nil || contentRange.total == file.length
        else {
            throw PieceFailure.badResponse("Content-Range \(response.headers.first(name: "Content-Range") ?? "missing") does not match \(range)")
        }
        if let etag = file.etag, let now = response.headers.first(name: "ETag"), now != etag {
            if source != .direct { throw PieceFailure.badResponse("the peer relayed ETag \(now), expected \(etag)") }
            throw DownloadError.changed("the file changed on the server (ETag \(etag) became \(now))")
        }

        let expected = range.count
        var received: Int64 = 0
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

extension PieceFetcher {
    /// `Retry-After` in seconds (the HTTP-date form is not honoured), capped at 5 minutes.
    static func retryAfter(_ value: String?) -> Duration? {
        guard let value, let seconds = Int(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return nil }
        return .seconds(min(seconds, 300))
    }
}

enum JSONDecoderShim {
    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        try JSONDecoder().decode(T.self, from: buffer)
    }
}
