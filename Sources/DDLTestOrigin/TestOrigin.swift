import DDLCore
import DDLServerSupport
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// An HTTP origin for tests and `ddl demo`: serves generated content with `Range`,
/// `ETag`/`Last-Modified`, `If-Range`, redirects, and switches for faults.
///
/// Routes: `GET|HEAD /files/{name}` serves the content; `GET|HEAD /redirect/{n}/{name}`
/// redirects `n` times before landing on `/files/{name}`; `GET /healthz`.
///
/// Responses can be held at a file offset until the test lets them go: see
/// ``pause(atOffset:)``.
public final class TestOrigin: Sendable {
    /// Fault switches; change them at any time with ``update(_:)``.
    public struct Faults: Sendable {
        /// Ignore `Range` and serve the whole file with `200` and no `Accept-Ranges`.
        public var noRange = false
        /// Send bodies chunked, with no `Content-Length` (and no length on `HEAD`).
        public var noLength = false
        /// Answer `HEAD` with `405`.
        public var headNotAllowed = false
        /// Throttle every response to this many bytes per second.
        public var bytesPerSecond: Int?
        /// The next this-many `GET` requests fail with ``failStatus``.
        public var failNextRequests = 0
        /// Status for injected failures.
        public var failStatus = 503
        /// `Retry-After` seconds sent with injected failures.
        public var retryAfter: Int?
        /// Close the connection after this many body bytes of each `GET` response.
        public var truncateAfter: Int64?
        /// `Content-Disposition` header to send, if any.
        public var contentDisposition: String?
        /// The strong entity tag; change it to simulate a new version of the file.
        public var etag: String? = "\"v1\""
        /// `Last-Modified` value.
        public var lastModified: String? = "Tue, 24 Nov 2026 12:00:00 GMT"
        public init() {}
    }

    struct State {
        var faults = Faults()
        var bytesServed: Int64 = 0
        var getRequests = 0
        var headRequests = 0
        var activeResponses = 0
        var abortedResponses = 0
        /// Gates not yet seen released (pruned as responses look at them).
        var gates: [GateCore] = []
    }

    /// The content served at every `/files/{name}`.
    public let content: GeneratedContent
    private let state: Mutex<State>

    /// Creates an origin serving `length` bytes of generated content.
    public init(length: Int64, seed: UInt64 = 0x5EED_DD1, faults: Faults = Faults()) {
        self.content = GeneratedContent(length: length, seed: seed)
        self.state = Mutex(State(faults: faults))
    }

    /// Changes the fault switches.
    public func update(_ body: (inout Faults) -> Void) {
        state.withLock { body(&$0.faults) }
    }

    /// Body bytes sent by `GET` responses so far.
    public var bytesServed: Int64 { state.withLock { $0.bytesServed } }
    /// `GET` requests received so far (redirects not included).
    public var getRequests: Int { state.withLock { $0.getRequests } }
    /// `HEAD` requests received so far (redirects not included).
    public var headRequests: Int { state.withLock { $0.headRequests } }
    /// `GET` response bodies being written right now (held ones included).
    public var activeResponses: Int { state.withLock { $0.activeResponses } }
    /// `GET` response bodies that ended early because writing failed (the client went
    /// away) or their task was cancelled; truncations ordered by ``Faults/truncateAfter`` do
    /// not count.
    public var abortedResponses: Int { state.withLock { $0.abortedResponses } }

    /// Holds every `GET` response before it sends a byte at or beyond `offset` until the
    /// returned gate is released; see ``Gate``. Several gates may be set at once.
    public func pause(atOffset offset: Int64) -> Gate {
        let core = GateCore(offset: offset)
        state.withLock { $0.gates.append(core) }
        return Gate(core: core)
    }

    /// Releases every gate (it also happens when the origin's service shuts down gracefully).
    public func releaseAllGates() {
        let gates = state.withLock { state in
            defer { state.gates = [] }
            return state.gates
        }
        for gate in gates { gate.release() }
    }

    /// Builds the HTTP application (a `Service`).
    public func makeApplication(
        host: String = "127.0.0.1",
        port: Int = 0,
        logger: Logger = Logger(label: "ddl.test-origin"),
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: DDLRequestContext.self)
        router.get("/healthz") { _, _ in HTTPResponse.Status.ok }
        router.on("/files/:name", method: .get) { request, _ in self.serve(request, head: false) }
        router.on("/files/:name", method: .head) { request, _ in self.serve(request, head: true) }
        let redirect: @Sendable (Request, DDLRequestContext) async throws -> Response = { _, context in
            let n = Int(context.parameters.get("n") ?? "0") ?? 0
            let name = context.parameters.get("name") ?? "file"
            var headers = HTTPFields()
            headers[.location] = n <= 1 ? "/files/\(name)" : "/redirect/\(n - 1)/\(name)"
            return Response(status: .found, headers: headers)
        }
        router.on("/redirect/:n/:name", method: .get, use: redirect)
        router.on("/redirect/:n/:name", method: .head, use: redirect)
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "ddl-test-origin"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    /// The lowest unreleased gate at or before `last`, pruning released ones.
    private func gate(before last: Int64) -> GateCore? {
        state.withLock { state in
            state.gates.removeAll { $0.isReleased }
            return state.gates.filter { $0.offset <= last }.min { $0.offset < $1.offset }
        }
    }

    private func serve(_ request: Request, head: Bool) -> Response {
        let faults = state.withLock { state -> Faults? in
            if head { state.headRequests += 1 } else { state.getRequests += 1 }
            if !head && state.faults.failNextRequests > 0 {
                state.faults.failNextRequests -= 1
                return nil
            }
            return state.faults
        }
        guard let faults else {
            let current = state.withLock { $0.faults }
            var headers = HTTPFields()
            if let retry = current.retryAfter { headers[.retryAfter] = String(retry) }
            return Response(status: .init(code: current.failStatus), headers: headers)
        }
        if head && faults.headNotAllowed { return Response(status: .methodNotAllowed) }

        var headers = HTTPFields()
        if let etag = faults.etag { headers[.eTag] = etag }
        if let lastModified = faults.lastModified { headers[.lastModified] = lastModified }
        if let disposition = faults.contentDisposition { headers[.contentDisposition] = disposition }
        if !faults.noRange { headers[.acceptRanges] = "bytes" }

        let length = content.length
        var range: ByteRange? = length > 0 ? ByteRange(first: 0, last: length - 1) : nil
        var status = HTTPResponse.Status.ok
        if !faults.noRange, let rangeHeader = request.headers[.range] {
            var honour = true
            if let ifRange = request.headers[.ifRange] {
                honour = ifRange == faults.etag || ifRange == faults.lastModified
            }
            if honour {
                guard let parsed = ByteRange.parseRangeHeader(rangeHeader, length: length) else {
                    headers[.contentRange] = "bytes */\(length)"
                    return Response(status: .rangeNotSatisfiable, headers: headers)
                }
                range = parsed
                status = .partialContent
                headers[.contentRange] = parsed.contentRangeHeader(total: length)
            }
        }
        let count = range?.count ?? 0
        if !faults.noLength { headers[.contentLength] = String(count) }
        if head { return Response(status: status, headers: headers, body: .init()) }

        let body = ResponseBody { [self, range] writer in
            guard let range else { try await writer.finish(nil); return }
            self.state.withLock { $0.activeResponses += 1 }
            defer { self.state.withLock { $0.activeResponses -= 1 } }
            do {
                try await self.writeBody(range, faults: faults, to: &writer)
            } catch let error as TruncatedOnPurpose {
                throw error
            } catch {
                self.state.withLock { $0.abortedResponses += 1 }
                throw error
            }
        }
        return Response(status: status, headers: headers, body: body)
    }

    private func writeBody(_ range: ByteRange, faults: Faults, to writer: inout any ResponseBodyWriter) async throws {
        let chunk: Int64 = 64 * 1024
        var offset = range.first
        var sent: Int64 = 0
        while offset <= range.last {
            var last = min(offset + chunk, range.last + 1) - 1
            if let gate = gate(before: last) {
                if gate.offset <= offset {
                    // Held until released; a graceful shutdown of the origin releases it.
                    try await withGracefulShutdownHandler {
                        try await gate.hold()
                    } onGracefulShutdown: {
                        self.releaseAllGates()
                    }
                    continue
                }
                last = gate.offset - 1  // send up to the gate, then stop there
            }
            var piece = content.bytes(ByteRange(first: offset, last: last))
            if let cut = faults.truncateAfter, sent + Int64(piece.readableBytes) > cut {
                let keep = Int(cut - sent)
                if keep > 0, let slice = piece.readSlice(length: keep) {
                    try await writer.write(slice)
                    state.withLock { $0.bytesServed += Int64(keep) }
                }
                throw TruncatedOnPurpose()
            }
            let n = Int64(piece.readableBytes)
            try await writer.write(piece)
            state.withLock { $0.bytesServed += n }
            sent += n
            offset = last + 1
            if let rate = faults.bytesPerSecond, rate > 0 {
                try await Task.sleep(for: .nanoseconds(Int64(Double(n) / Double(rate) * 1e9)))
            }
        }
        try await writer.finish(nil)
    }
}

struct TruncatedOnPurpose: Error {}
