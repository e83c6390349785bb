import Crypto
import DDLCore
import DDLServerSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// An HTTP origin for tests and `ddl demo`: serves generated content with `Range`,
/// `ETag`/`Last-Modified`, `If-Range`, redirects, and switches for faults.
///
/// Routes: `GET|HEAD /files/{name}` serves the content; `GET|HEAD /redirect/{n}/{name}`
/// redirects `n` times before landing on `/files/{name}`; `GET|HEAD /signed/{name}`
/// redirects (`302`) to a fresh presigned-style URL `/s/{token}/{name}` that serves the
/// content to `GET` for ``Faults/signedURLLifetime`` after it was issued and answers `403`
/// afterwards (and always to `HEAD`, like a URL signed for `GET` only);
/// `GET|HEAD /presigned/{name}?X-Amz-…` serves the content only to a request whose query
/// carries `X-Amz-Signature` and `X-Amz-Expires`, as an S3 presigned URL does, checked
/// loosely: any values pass, a missing one is `403` (see ``presignedURL(_:signature:)``);
/// `GET /healthz`.
///
/// Checksum files: a name that looks like one (``isChecksumFileName(_:)``: `FILE.sha256`,
/// `SHA256SUMS`…) or is listed in ``Faults/checksumFiles`` is not the content: at
/// `/files/{name}` the origin serves the listed body (`404` for any other), and under
/// `/signed/` and `/s/` it answers `403`, as an object store does for an object nobody signed
/// a URL for. The content's answers carry ``Faults/digestHeaders``.
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
        /// Answer `HEAD` with this status (e.g. `403`, as object stores do for URLs presigned
        /// for `GET`); takes precedence over ``headNotAllowed``.
        public var headStatus: Int?
        /// How long a URL issued by `/signed/{name}` stays valid, measured on the origin's
        /// clock (see ``TestOrigin/init(length:seed:faults:now:)``) from the redirect.
        public var signedURLLifetime: Duration = .seconds(60)
        /// Throttle every response to this many bytes per second.
        public var bytesPerSecond: Int?
        /// The next this-many `GET` requests fail with ``failStatus``.
        public var failNextRequests = 0
        /// Status for injected failures.
        public var failStatus = 503
        /// `Retry-After` seconds sent with injected failures.
        public var retryAfter: Int?
        /// Send ``retryAfter`` as an HTTP date (now plus that many seconds, IMF-fixdate)
        /// instead of a number of seconds.
        public var retryAfterAsDate = false
        /// Ranged `GET`s this returns a status for are refused with it (e.g. spot-check
        /// windows, which do not end where a piece does).
        public var refuseRange: (@Sendable (ByteRange) -> Int?)?
        /// Close the connection after this many body bytes of each `GET` response.
        public var truncateAfter: Int64?
        /// Serve wrong bytes (each XORed with `0x5A`) at and after this file offset, with the
        /// same headers: a mirror that claims to be the same file and lies.
        public var corruptFrom: Int64?
        /// `Content-Disposition` header to send, if any.
        public var contentDisposition: String?
        /// The strong entity tag; change it to simulate a new version of the file.
        public var etag: String? = "\"v1\""
        /// `Last-Modified` value.
        public var lastModified: String? = "Tue, 24 Nov 2026 12:00:00 GMT"
        /// Headers sent as given with every answer for the content, `HEAD` and `GET`, `200`
        /// and `206` alike: digests such as `Repr-Digest`, `Content-Digest`, `Digest`,
        /// `x-amz-checksum-sha256` (right, wrong or malformed, as the test wants; see
        /// ``TestOrigin/digest(_:)`` for right ones).
        public var digestHeaders: [String: String] = [:]
        /// `Content-Encoding` to claim for the content (the bytes are not encoded).
        public var contentEncoding: String?
        /// Checksum files served at `/files/{name}`, by name: their body.
        public var checksumFiles: [String: String] = [:]
        /// Answer every request for a checksum file with this status instead (say `403`, or
        /// `500`).
        public var checksumFileStatus: Int?
        public init() {}
    }

    /// A request for a checksum file, as the origin saw it.
    public struct ChecksumFileRequest: Sendable, Hashable {
        /// Path and query.
        public var uri: String
        public var method: String
        /// Whether it carried an `Authorization` header.
        public var authorized: Bool
    }

    struct SignedURL {
        var expires: ContinuousClock.Instant
        var revoked = false
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
        /// Signed-URL tokens and when each expires.
        var signed: [String: SignedURL] = [:]
        var signedIssued = 0
        var presignedRefusals = 0
        var checksumFileRequests: [ChecksumFileRequest] = []
        /// Gates holding answers for checksum files (see ``pauseChecksumFiles()``).
        var checksumGates: [GateCore] = []
    }

    /// The content served at every `/files/{name}`.
    public let content: GeneratedContent
    private let state: Mutex<State>
    private let now: @Sendable () -> ContinuousClock.Instant

    /// Creates an origin serving `length` bytes of generated content.
    ///
    /// - Parameter now: the origin's clock, read when a signed URL is issued and used; tests
    ///   can pass one they advance by hand instead of sleeping.
    public init(
        length: Int64, seed: UInt64 = 0x5EED_DD1, faults: Faults = Faults(),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.content = GeneratedContent(length: length, seed: seed)
        self.state = Mutex(State(faults: faults))
        self.now = now
    }

    /// Changes the fault switches.
    public func update(_ body: (inout Faults) -> Void) {
        state.withLock { body(&$0.faults) }
    }

    /// Body bytes sent by `GET` responses so far.
    public var bytesServed: Int64 { state.withLock { $0.bytesServed } }
    /// `GET` requests received so far (signed URLs included, redirects not).
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

    /// Holds every answer for a checksum file, before its status line, until the returned
    /// gate is released (its ``Gate/offset`` means nothing).
    public func pauseChecksumFiles() -> Gate {
        let core = GateCore(offset: 0)
        state.withLock { $0.checksumGates.append(core) }
        return Gate(core: core)
    }

    /// Releases every gate (it also happens when the origin's service shuts down gracefully).
    public func releaseAllGates() {
        let gates = state.withLock { state in
            defer {
                state.gates = []
                state.checksumGates = []
            }
            return state.gates + state.checksumGates
        }
        for gate in gates { gate.release() }
    }

    /// Makes every signed URL issued so far answer `403`, as if its lifetime had passed.
    public func expireSignedURLs() {
        state.withLock { state in
            for token in state.signed.keys { state.signed[token]?.revoked = true }
        }
    }

    /// The path and query of an S3-style presigned URL of `name` that `/presigned/{name}`
    /// accepts, signed with `signature` (any text): the SigV4 parameters, and `x-id` and
    /// `versionId` that are not signing parameters, around them.
    public static func presignedURL(_ name: String, signature: String) -> String {
        "/presigned/\(name)?x-id=GetObject&X-Amz-Algorithm=AWS4-HMAC-SHA256"
            + "&X-Amz-Credential=AKIAEXAMPLE%2F20261124%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261124T120000Z"
            + "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&versionId=v1&X-Amz-Signature=\(signature)"
    }

    /// Requests to `/presigned/{name}` refused for want of a signature so far.
    public var presignedRefusals: Int { state.withLock { $0.presignedRefusals } }

    /// Signed URLs issued by `/signed/{name}` so far.
    public var signedURLsIssued: Int { state.withLock { $0.signedIssued } }

    /// Requests for checksum files so far (they count in neither ``getRequests`` nor
    /// ``headRequests``).
    public var checksumFileRequests: [ChecksumFileRequest] { state.withLock { $0.checksumFileRequests } }

    /// Whether `name` is a checksum file's rather than the content's: one of
    /// ``Faults/checksumFiles``, or a name ending in `.sha256`, `.sha256sum`, `.sha512`,
    /// `.sha512sum`, `.md5`, `.meta4`, or `SHA256SUMS`, `SHA512SUMS`, `MD5SUMS`.
    public func isChecksumFileName(_ name: String) -> Bool {
        if state.withLock({ $0.faults.checksumFiles[name] != nil }) { return true }
        let suffixes = [".sha256", ".sha256sum", ".sha512", ".sha512sum", ".md5", ".meta4"]
        return suffixes.contains { name.lowercased().hasSuffix($0) } || ["SHA256SUMS", "SHA512SUMS", "MD5SUMS"].contains(name)
    }

    /// The content's digest with `hash`, lowercase hex and base64, for digest headers and
    /// checksum files.
    public func digest<H: HashFunction>(_ hash: H.Type) -> (hex: String, base64: String) {
        let bytes = Array(content.digest(hash))
        return (bytes.map { String(format: "%02x", $0) }.joined(), Data(bytes).base64EncodedString())
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
        router.on("/files/:name", method: .get) { request, context in
            try await self.checksumFile(request, context, published: true) ?? self.serve(request, head: false)
        }
        router.on("/files/:name", method: .head) { request, context in
            try await self.checksumFile(request, context, published: true) ?? self.serve(request, head: true)
        }
        let redirect: @Sendable (Request, DDLRequestContext) async throws -> Response = { _, context in
            let n = Int(context.parameters.get("n") ?? "0") ?? 0
            let name = context.parameters.get("name") ?? "file"
            var headers = HTTPFields()
            headers[.location] = n <= 1 ? "/files/\(name)" : "/redirect/\(n - 1)/\(name)"
            return Response(status: .found, headers: headers)
        }
        router.on("/redirect/:n/:name", method: .get, use: redirect)
        router.on("/redirect/:n/:name", method: .head, use: redirect)
        let sign: @Sendable (Request, DDLRequestContext) async throws -> Response = { request, context in
            if let refused = try await self.checksumFile(request, context, published: false) { return refused }
            let name = context.parameters.get("name") ?? "file"
            let token = self.issueSignedURL()
            var headers = HTTPFields()
            headers[.location] = "/s/\(token)/\(name)"
            return Response(status: .found, headers: headers)
        }
        router.on("/signed/:name", method: .get, use: sign)
        router.on("/signed/:name", method: .head, use: sign)
        router.on("/s/:token/:name", method: .get) { request, context in
            if let refused = try await self.checksumFile(request, context, published: false) { return refused }
            guard self.signedURLIsValid(context.parameters.get("token")) else { return Self.signatureRefused() }
            return self.serve(request, head: false)
        }
        let presigned: @Sendable (Request, DDLRequestContext) async throws -> Response = { request, context in
            if let refused = try await self.checksumFile(request, context, published: false) { return refused }
            let query = request.uri.queryParameters
            guard query.get("X-Amz-Signature") != nil, query.get("X-Amz-Expires") != nil else {
                self.state.withLock { $0.presignedRefusals += 1 }
                return Self.signatureRefused()
            }
            return self.serve(request, head: request.method == .head)
        }
        router.on("/presigned/:name", method: .get, use: presigned)
        router.on("/presigned/:name", method: .head, use: presigned)
        router.on("/s/:token/:name", method: .head) { _, _ in
            self.state.withLock { $0.headRequests += 1 }
            return Self.signatureRefused()
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "ddl-test-origin"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    private func issueSignedURL() -> String {
        let issued = now()
        return state.withLock { state in
            state.signedIssued += 1
            let token = "sig\(state.signedIssued)"
            state.signed[token] = SignedURL(expires: issued + state.faults.signedURLLifetime)
            return token
        }
    }

    private func signedURLIsValid(_ token: String?) -> Bool {
        let time = now()
        return state.withLock { state in
            guard let token, let signed = state.signed[token] else { return false }
            return !signed.revoked && time < signed.expires
        }
    }

    /// The answer for a checksum file, or `nil` when `request` is for the content. With
    /// `published`, the file listed in ``Faults/checksumFiles`` (or `404`); without, `403`.
    private func checksumFile(_ request: Request, _ context: DDLRequestContext, published: Bool) async throws -> Response? {
        guard let name = context.parameters.get("name"), isChecksumFileName(name) else { return nil }
        let head = request.method == .head
        let gates = state.withLock { state in
            state.checksumFileRequests.append(.init(
                uri: request.uri.description, method: head ? "HEAD" : "GET", authorized: request.headers[.authorization] != nil))
            state.checksumGates.removeAll { $0.isReleased }
            return state.checksumGates
        }
        for gate in gates {
            try await withGracefulShutdownHandler {
                try await gate.hold()
            } onGracefulShutdown: {
                self.releaseAllGates()
            }
        }
        let faults = state.withLock { $0.faults }
        if let status = faults.checksumFileStatus { return Response(status: .init(code: status)) }
        guard published else { return Self.signatureRefused() }
        guard let body = faults.checksumFiles[name] else { return Response(status: .notFound) }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.contentLength] = String(body.utf8.count)
        return Response(status: .ok, headers: headers, body: head ? .init() : .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// What an object store answers to an expired URL or a method it was not signed for.
    private static func signatureRefused() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/xml"
        let body = "<Error><Code>AccessDenied</Code><Message>Request has expired or was not signed for this method</Message></Error>"
        return Response(status: .forbidden, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// The lowest unreleased gate at or before `last`, pruning released ones.
    private func gate(before last: Int64) -> GateCore? {
        state.withLock { state in
            state.gates.removeAll { $0.isReleased }
            return state.gates.filter { $0.offset <= last }.min { $0.offset < $1.offset }
        }
    }

    /// `date` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
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
            if let retry = current.retryAfter {
                headers[.retryAfter] = current.retryAfterAsDate ? Self.httpDate(Date().addingTimeInterval(TimeInterval(retry))) : String(retry)
            }
            return Response(status: .init(code: current.failStatus), headers: headers)
        }
        if head, let status = faults.headStatus { return Response(status: .init(code: status)) }
        if head && faults.headNotAllowed { return Response(status: .methodNotAllowed) }

        var headers = HTTPFields()
        if let etag = faults.etag { headers[.eTag] = etag }
        if let lastModified = faults.lastModified { headers[.lastModified] = lastModified }
        if let disposition = faults.contentDisposition { headers[.contentDisposition] = disposition }
        if let encoding = faults.contentEncoding { headers[.contentEncoding] = encoding }
        for (name, value) in faults.digestHeaders {
            if let field = HTTPFields.Element.Name(name) { headers[field] = value }
        }
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
        if status == .partialContent, let range, let refused = faults.refuseRange?(range) {
            return Response(status: .init(code: refused))
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
            if let from = faults.corruptFrom, last >= from {
                let skip = Int(max(0, from - offset))
                piece.withUnsafeMutableReadableBytes { raw in
                    for i in skip..<raw.count { raw[i] ^= 0x5A }
                }
            }
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
