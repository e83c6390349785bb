import DDLCore
import DDLServerSupport
import DDLTLS

/// Settings of a tracker.
public struct TrackerConfiguration: Sendable, Hashable {
    /// Address to bind, e.g. `0.0.0.0` or `127.0.0.1`.
    public var host: String = "0.0.0.0"
    /// Port to bind; 0 picks a free one.
    public var port: Int = 5000
    /// Seconds a peer stays listed without a heartbeat.
    public var ttlSeconds: Int = 30
    /// Most peers registered at once.
    public var maxPeers: Int = 100_000
    /// Most peers returned by one list request. When more are registered, the list takes
    /// them in turn from each registering source address, so no source can crowd the
    /// others out.
    public var maxListed: Int = 1000
    /// Most peers registered at once from one source address (config key
    /// `max_peers_per_address`); past it, `429`.
    public var maxPeersPerAddress: Int = 32
    /// Blocks whose peer addresses are accepted although the LAN address policy refuses
    /// them (loopback, link-local…; config key `allow_peer_networks`). Empty by default:
    /// only unicast LAN and internet addresses can register.
    public var allowPeerNetworks: [IPNetwork] = []
    /// Connection caps (see ``ConnectionLimits``).
    public var connectionLimits = ConnectionLimits()
    /// Download reports kept for `GET /v1/downloads` and the dashboard.
    public var downloadHistory: Int = 100
    /// Most peers the dashboard lists.
    public var dashboardPeers: Int = 200
    /// Serve Prometheus metrics at `/metrics` and count requests (config key `metrics`,
    /// `--no-metrics`). Off, the tracker records none; the dashboard and the download reports
    /// stay.
    public var metrics: Bool = true
    /// The swarm token every request but `/healthz` must carry as
    /// `Authorization: Bearer <token>`. `nil` runs an open tracker.
    public var token: String?
    /// The certificate and key the tracker serves https with; `nil` serves plain HTTP. With
    /// TLS, peers must register their own certificate's fingerprint.
    public var tls: TLSIdentity?

    public init(host: String = "0.0.0.0", port: Int = 5000, ttlSeconds: Int = 30) {
        self.host = host
        self.port = port
        self.ttlSeconds = ttlSeconds
    }
}

extension TrackerConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The settings without the token.
    public var description: String {
        "TrackerConfiguration(host: \(host), port: \(port), ttl: \(ttlSeconds), token: \(token == nil ? "none" : "<redacted>"), "
            + "tls: \(tls.map { $0.fingerprint.description } ?? "off"), "
            + "maxPeers: \(maxPeers), maxPeersPerAddress: \(maxPeersPerAddress), allowPeerNetworks: \(allowPeerNetworks), metrics: \(metrics))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
