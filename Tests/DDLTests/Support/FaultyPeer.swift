import DDLCore
import Foundation
import DDLServerSupport
import DDLTestOrigin
import Hummingbird
import Logging
import NIOCore

/// A peer server for fault tests: answers `/v1/fetch` like a real peer (from the test
/// origin's content, without contacting it) but misbehaves as told.
struct FaultyPeer {
    enum Fault: Sendable {
        /// Sends this many body bytes, then closes the connection.
        case dieAfter(Int)
        /// Sends this many body bytes, then nothing (for 3 s, then it gives up).
        case stallAfter(Int)
        /// Sends one byte every 100 ms: never idle long enough for a read timeout.
        case trickle
        /// Serves the right length with some bytes flipped (a lying peer).
        case flipBytes
        /// Serves garbage of the right length, with correct headers (a lying peer).
        case garbage
        /// Decides each answer from the requested range (see ``Answer``): a peer that lies
        /// only in some answers, or only in some bytes of them.
        case scripted(@Sendable (ByteRange) async -> Answer)
    }

    /// One answer of a ``Fault/scripted(_:)`` peer.
    struct Answer: Sendable {
        /// Bytes of the answer, counted from its first byte, that are wrong. A wrong byte is
        /// the right one XOR `0x5A`: every scripted liar serves the same wrong bytes for the
        /// same file offsets, in every answer (liars that collude, and stay consistent when
        /// asked again).
        var corrupt: Range<Int64>?
        /// Sends this many body bytes, then closes the connection.
        var dieAfter: Int?
        /// Answers with this status and a peer's problem body naming `originStatus` instead
        /// of the bytes (e.g. `502` with `403`: "the origin's signed URL expired").
        var problem: (status: Int, originStatus: Int)?
        /// Sends the body one byte every 100 ms: never idle long enough for a read timeout.
        var trickle = false

        static let honest = Answer()
        /// Wrong bytes from `first` (relative to the answer) to its end.
        static func lie(from first: Int64 = 0) -> Answer { Answer(corrupt: first..<Int64.max) }
    }

    /// `bytes` (the right ones) with the bytes at `corrupt` (relative) made wrong.
    static func corrupted(_ bytes: ByteBuffer, _ corrupt: Range<Int64>) -> ByteBuffer {
        var bytes = bytes
        let count = Int64(bytes.readableBytes)
        let lower = max(0, min(corrupt.lowerBound, count)), upper = max(lower, min(corrupt.upperBound, count))
        bytes.withUnsafeMutableReadableBytes { raw in
            for i in Int(lower)..<Int(upper) { raw[i] ^= 0x5A }
        }
        return bytes
    }

    let content: GeneratedContent
    let fault: Fault

    /// Sends `bytes` one byte every 100 ms: never idle long enough for a read timeout.
    static func trickle(_ bytes: ByteBuffer, into writer: inout any ResponseBodyWriter) async throws {
        var offset = bytes.readerIndex
        while offset < bytes.writerIndex {
            try await writer.write(bytes.getSlice(at: offset, length: 1)!)
            offset += 1
            try await Task.sleep(for: .milliseconds(100))
        }
        try await writer.finish(nil)
    }

    /// Sends the first `n` of `bytes`, then closes the connection.
    static func die(after n: Int, of bytes: ByteBuffer, into writer: inout any ResponseBodyWriter) async throws -> Never {
        try await writer.write(bytes.getSlice(at: bytes.readerIndex, length: min(n, bytes.readableBytes))!)
        throw CancellationError()
    }

    func makeApplication(onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = Router(context: DDLRequestContext.self)
        router.get("/v1/fetch") { request, _ -> Response in
            guard let header = request.headers[.range], let range = ByteRange.parseRangeHeader(header, length: content.length) else {
                return Response(status: .badRequest)
            }
            var answer = Answer()
            if case let .scripted(script) = fault { answer = await script(range) }
            if let problem = answer.problem {
                let body = try JSONEncoder().encode(Problem(
                    type: "origin-status", detail: "the origin answered HTTP \(problem.originStatus)", status: problem.status,
                    originStatus: problem.originStatus))
                var headers = HTTPFields()
                headers[.contentType] = "application/problem+json"
                return Response(status: .init(code: problem.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
            }
            var headers = HTTPFields()
            headers[.contentRange] = range.contentRangeHeader(total: content.length)
            headers[.contentLength] = String(range.count)
            headers[.eTag] = "\"v1\""
            var bytes = content.bytes(range)
            if case .flipBytes = fault {
                let middle = bytes.readerIndex + bytes.readableBytes / 2
                bytes.setInteger(~bytes.getInteger(at: middle, as: UInt8.self)!, at: middle)
            }
            if case .garbage = fault {
                var generator = SystemRandomNumberGenerator()
                bytes = ByteBuffer(bytes: (0..<bytes.readableBytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
            }
            if let corrupt = answer.corrupt { bytes = Self.corrupted(bytes, corrupt) }
            return Response(status: .partialContent, headers: headers, body: ResponseBody { [bytes, answer] writer in
                if answer.trickle { return try await Self.trickle(bytes, into: &writer) }
                if let n = answer.dieAfter { try await Self.die(after: n, of: bytes, into: &writer) }
                switch fault {
                case let .dieAfter(n):
                    try await Self.die(after: n, of: bytes, into: &writer)
                case let .stallAfter(n):
                    try await writer.write(bytes.getSlice(at: bytes.readerIndex, length: min(n, bytes.readableBytes))!)
                    try await Task.sleep(for: .seconds(3))
                    throw CancellationError()
                case .flipBytes, .garbage, .scripted:
                    try await writer.write(bytes)
                    try await writer.finish(nil)
                case .trickle:
                    try await Self.trickle(bytes, into: &writer)
                }
            })
        }
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { await onListening($0.localAddress?.port ?? 0) }, logger: testLogger)
    }
}
