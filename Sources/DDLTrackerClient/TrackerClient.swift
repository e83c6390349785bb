import AsyncHTTPClient
import DDLCore
import DDLTLS
import Foundation
import NIOCore
import NIOFoundationCompat

/// Talks to a tracker's API v1. Used by peer servers (register, heartbeat, remove) and by
/// clients and `ddl peers` (list).
public struct TrackerClient: Sendable {
    /// What a heartbeat learned.
    public enum HeartbeatResult: Sendable, Equatable {
        case ok
        /// The tracker does not know this id (expired, or the tracker restarted).
        case unknown
    }

    /// Errors talking to the tracker.
    public enum Failure: Error, CustomStringConvertible, Sendable {
        case unreachable(String, underlying: String)
        case badStatus(String, Int)
        case malformed(String, reason: String)

        public var description: String {
            switch self {
            case let .unreachable(url, underlying):
                "cannot reach the tracker at \(url) (\(underlying)); check the URL and that `ddl tracker` is running"
            case let .badStatus(url, 401):
                "the tracker at \(url) refused the token (HTTP 401); pass the swarm's token with --token or DDL_TOKEN"
            case let .badStatus(url, status):
                "the tracker at \(url) answered HTTP \(status)"
            case let .malformed(url, reason):
                "the tracker at \(url) sent an invalid answer: \(reason)"
            }
        }
    }

    /// Largest tracker answer accepted.
    public static let maxResponseBytes = 4 << 20
    /// Most peers taken from one list answer.
    public static let maxPeers = 1024

    public let baseURL: String
    public let httpClient: HTTPClient
    public let timeout: TimeAmount
    /// The swarm token, sent as `Authorization: Bearer <token>` with every request.
    public let token: String?
    /// Fingerprints the tracker's certificate may have (`--tracker-fingerprint`): an https
    /// tracker is then trusted by this pin alone. Empty: the system's CAs verify it.
    public let fingerprints: [CertificateFingerprint]
    let pins: PinnedCertificates
    /// Keep the connection open for the next request (`true`, clients: a list and a report).
    /// Peer servers close it after each exchange (`Connection: close`): they talk to the
    /// tracker every ttl/3, and a tracker would otherwise hold one open connection per peer,
    /// past its `max_connections` (512) long before 10,000 peers.
    public var keepsConnectionsOpen = true

    /// - Parameters:
    ///   - baseURL: e.g. `https://10.0.0.5:5000` (a trailing slash is ignored; without a
    ///     scheme, `https://` with `fingerprints`, else `http://`).
    ///   - token: the swarm token, if the swarm has one.
    ///   - fingerprints: see ``fingerprints``.
    ///   - pins: where learned certificates are kept (share one per process).
    public init(
        baseURL: String, httpClient: HTTPClient, timeout: TimeAmount = .seconds(5), token: String? = nil,
        fingerprints: [CertificateFingerprint] = [], pins: PinnedCertificates = PinnedCertificates()
    ) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        if !base.contains("://") { base = (fingerprints.isEmpty ? "http://" : "https://") + base }
        self.baseURL = base
        self.httpClient = httpClient
        self.timeout = timeout
        self.token = token
        self.fingerprints = fingerprints
        self.pins = pins
    }

    /// Registers a peer server; returns its id and TTL.
    public func register(_ request: TrackerAPI.RegisterRequest) async throws -> TrackerAPI.RegisterResponse {
        var req = HTTPClientRequest(url: baseURL + "/v1/peers")
        req.method = .POST
        req.headers.add(name: "Content-Type", value: "application/json")
        req.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(request)))
        let (status, body) = try await send(req)
        guard status == 201 || status == 200 else { throw Failure.badStatus(baseURL, status) }
        return try decode(TrackerAPI.RegisterResponse.self, from: body)
    }

    /// Sends a heartbeat for `id`, with the peer's `status` when given.
    public func heartbeat(id: String, status: TrackerAPI.PeerStatus? = nil) async throws -> HeartbeatResult {
        var req = HTTPClientRequest(url: baseURL + "/v1/peers/" + id.addingPathPercentEncoding())
        req.method = .PUT
        if let status {
            req.headers.add(name: "Content-Type", value: "application/json")
            req.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(status)))
        }
        let (status, _) = try await send(req)
        switch status {
        case 200..<300: return .ok
        case 404: return .unknown
        default: throw Failure.badStatus(baseURL, status)
        }
    }

    /// Removes `id` from the tracker.
    public func deregister(id: String) async throws {
        var req = HTTPClientRequest(url: baseURL + "/v1/peers/" + id.addingPathPercentEncoding())
        req.method = .DELETE
        let (status, _) = try await send(req)
        guard (200..<300).contains(status) || status == 404 else { throw Failure.badStatus(baseURL, status) }
    }

    /// Reports a finished (or failed) download. Best effort: the caller ignores failures;
    /// `timeout` bounds the whole request.
    public func report(_ download: TrackerAPI.DownloadReport, timeout: TimeAmount = .seconds(2)) async throws {
        var req = HTTPClientRequest(url: baseURL + "/v1/downloads")
        req.method = .POST
        req.headers.add(name: "Content-Type", value: "application/json")
        req.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(download)))
        let (status, _) = try await send(req, timeout: timeout)
        guard (200..<300).contains(status) else { throw Failure.badStatus(baseURL, status) }
    }

    /// Lists the live peers (at most ``maxPeers``, each with a valid host and port): with
    /// `file` (a key such as `Rendezvous.fileKey(url:)` makes), the `limit` peers the tracker
    /// ranks highest for that file, the same for every client of it; without, as many as the
    /// tracker lists (`ddl peers`).
    public func peers(file: String? = nil, limit: Int? = nil) async throws -> [TrackerAPI.Peer] {
        var query: [String] = []
        if let file { query.append("file=" + (file.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")) }
        if let limit { query.append("limit=\(limit)") }
        let (status, body) = try await send(HTTPClientRequest(url: baseURL + "/v1/peers" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))))
        guard status == 200 else { throw Failure.badStatus(baseURL, status) }
        let list = try decode(TrackerAPI.PeerList.self, from: body)
        return list.peers.prefix(Self.maxPeers).filter { peer in
            (1...65535).contains(peer.port) && !peer.host.isEmpty && peer.host.utf8.count <= 255
                && !peer.host.contains(where: { $0 == "/" || $0 == "@" || $0 == "?" || $0 == "#" || $0.isWhitespace })
        }
    }

    private func send(_ request: HTTPClientRequest, timeout: TimeAmount? = nil) async throws -> (Int, ByteBuffer) {
        var request = request
        if !fingerprints.isEmpty {
            // The pin is checked before anything is sent: a certificate with another key
            // gets neither the request nor the token.
            do {
                request.tlsConfiguration = try await pins.clientConfiguration(forURL: baseURL, defaultPort: 443, fingerprints: fingerprints)
            } catch {
                throw Failure.unreachable(baseURL, underlying: error.description)
            }
        }
        if let token { request.headers.replaceOrAdd(name: "Authorization", value: SwarmToken.authorizationValue(token)) }
        if !keepsConnectionsOpen { request.headers.replaceOrAdd(name: "Connection", value: "close") }
        do {
            let response = try await httpClient.execute(request, timeout: timeout ?? self.timeout)
            let body = try await response.body.collect(upTo: Self.maxResponseBytes)
            return (Int(response.status.code), body)
        } catch let error as Failure {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw Failure.unreachable(baseURL, underlying: String(describing: error))
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, from body: ByteBuffer) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch {
            throw Failure.malformed(baseURL, reason: String(describing: error))
        }
    }
}

extension String {
    /// Percent-encodes everything but unreserved characters (RFC 3986), for a path segment
    /// or a query value.
    public func addingPathPercentEncoding() -> String {
        var out = ""
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xF)]))
            }
        }
        return out
    }
}

extension TrackerClient: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The tracker's URL, without the token.
    public var description: String { "TrackerClient(\(baseURL), token: \(token == nil ? "none" : "<redacted>"))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
