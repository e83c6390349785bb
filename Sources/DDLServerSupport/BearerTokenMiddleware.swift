import Crypto
import Hummingbird

/// Requires `Authorization: Bearer <token>` on every route it guards. A missing or wrong
/// token gets `401` with an empty body. `/healthz` is always open.
///
/// The comparison hashes both tokens with SHA-256 and compares the digests in constant
/// time, so neither the token's length nor the position of the first differing byte
/// shows in the response time.
public struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    private let expectedDigest: [UInt8]

    public init(token: String) {
        self.expectedDigest = Array(SHA256.hash(data: Array(token.utf8)))
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/healthz" { return try await next(request, context) }
        guard let value = request.headers[.authorization], Self.matches(value, expectedDigest: expectedDigest) else {
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Bearer"
            return Response(status: .unauthorized, headers: headers)
        }
        return try await next(request, context)
    }

    static func matches(_ header: String, expectedDigest: [UInt8]) -> Bool {
        var utf8 = Substring(header).utf8
        let scheme = "bearer ".utf8
        guard utf8.count > scheme.count,
              zip(utf8.prefix(scheme.count), scheme).allSatisfy({ lowercase($0) == $1 })
        else { return false }
        utf8 = utf8.dropFirst(scheme.count)
        let given = Array(SHA256.hash(data: Array(utf8)))
        return constantTimeEquals(given, expectedDigest)
    }

    private static func lowercase(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }
}

/// Compares two byte arrays without an early exit. Arrays of different lengths are unequal
/// (callers compare fixed-length digests).
public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}

extension RouterMethods {
    /// Adds ``BearerTokenMiddleware`` when `token` is set (routes added afterwards are guarded).
    @discardableResult
    public func requireToken(_ token: String?) -> Self {
        guard let token else { return self }
        return add(middleware: BearerTokenMiddleware<Context>(token: token))
    }
}
