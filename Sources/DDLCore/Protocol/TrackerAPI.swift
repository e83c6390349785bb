import Foundation

/// Wire types of the tracker's HTTP/JSON API v1.
public enum TrackerAPI {
    /// `POST /v1/peers` body.
    public struct RegisterRequest: Codable, Sendable, Hashable {
        /// Port the peer server listens on.
        public var port: Int
        /// Host to advertise; the tracker uses the request's source address when absent.
        public var host: String?
        /// Optional human-readable name.
        public var name: String?
        /// Optional: what the peer has done so far (for the dashboard).
        public var status: PeerStatus?
        /// The fingerprint of the peer's TLS certificate; absent for a peer serving plain
        /// HTTP (which a tracker serving TLS refuses).
        public var fingerprint: CertificateFingerprint?
        public init(port: Int, host: String? = nil, name: String? = nil, status: PeerStatus? = nil, fingerprint: CertificateFingerprint? = nil) {
            self.port = port
            self.host = host
            self.name = name
            self.status = status
            self.fingerprint = fingerprint
        }
    }

    /// `POST /v1/peers` answer (`201`).
    public struct RegisterResponse: Codable, Sendable, Hashable {
        /// Identifier for heartbeats and removal.
        public var id: String
        /// Seconds after the last heartbeat at which the tracker forgets the peer.
        public var ttl: Int
        public init(id: String, ttl: Int) {
            self.id = id
            self.ttl = ttl
        }
    }

    /// One registered peer.
    public struct Peer: Codable, Sendable, Hashable {
        public var id: String
        public var host: String
        public var port: Int
        public var name: String?
        /// Time of the last registration or heartbeat, ISO 8601.
        public var lastSeen: String
        /// The fingerprint of the peer's TLS certificate: clients speak https to it and
        /// accept only this certificate. Absent: the peer serves plain HTTP.
        public var fingerprint: CertificateFingerprint?
        public init(id: String, host: String, port: Int, name: String?, lastSeen: String, fingerprint: CertificateFingerprint? = nil) {
            self.id = id
            self.host = host
            self.port = port
            self.name = name
            self.lastSeen = lastSeen
            self.fingerprint = fingerprint
        }
    }

    /// `GET /v1/peers` answer.
    public struct PeerList: Codable, Sendable, Hashable {
        public var peers: [Peer]
        public init(peers: [Peer]) { self.peers = peers }
    }
}

/// A JSON problem body (in the spirit of RFC 9457) returned by the tracker and peers.
public struct Problem: Codable, Sendable, Hashable, Error {
    /// Short machine-readable kind, e.g. `origin-status`, `bad-range`.
    public var type: String
    /// Human-readable explanation.
    public var detail: String
    /// The HTTP status of this response.
    public var status: Int
    /// The origin's HTTP status, when the problem is about the origin's answer.
    public var originStatus: Int?

    public init(type: String, detail: String, status: Int, originStatus: Int? = nil) {
        self.type = type
        self.detail = detail
        self.status = status
        self.originStatus = originStatus
    }
}
