import DDLCore
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
    }

    let content: GeneratedContent
    let fault: Fault

    func makeApplication(onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = Router(context: DDLRequestContext.self)
        router.get("/v1/fetch") { request, _ -> Response in
            guard let header = request.headers[.range], let range = ByteRange.parseRangeHeader(header, length: content.length) else {
                return Response(status: .badRequest)
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
            return Response(status: .partialContent, headers: headers, body: ResponseBody { [bytes] writer in
                switch fault {
                case let .dieAfter(n):
                    try await writer.write(bytes.getSlice(at: bytes.readerIndex, length: min(n, bytes.readableBytes))!)
                    throw CancellationError()
                case let .stallAfter(n):
                    try await writer.write(bytes.getSlice(at: bytes.readerIndex, length: min(n, bytes.readableBytes))!)
                    try await Task.sleep(for: .seconds(3))
                    throw CancellationError()
                case .flipBytes, .garbage:
                    try await writer.write(bytes)
                    try await writer.finish(nil)
                case .trickle:
                    var offset = bytes.readerIndex
                    while offset < bytes.writerIndex {
                        try await writer.write(bytes.getSlice(at: offset, length: 1)!)
                        offset += 1
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    try await writer.finish(nil)
                }
            })
        }
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { await onListening($0.localAddress?.port ?? 0) }, logger: testLogger)
    }
}
