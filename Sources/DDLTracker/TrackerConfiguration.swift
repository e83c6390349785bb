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
    /// Most peers returned by one list request.
    public var maxListed: Int = 1000
    /// Download reports kept for `GET /v1/downloads` and the dashboard.
    public var downloadHistory: Int = 100
    /// Most peers the dashboard lists.
    public var dashboardPeers: Int = 200
    /// The swarm token every request but `/healthz` must carry as
    /// `Authorization: Bearer <token>`. `nil` runs an open tracker.
    public var token: String?

    public init(host: String = "0.0.0.0", port: Int = 5000, ttlSeconds: Int = 30) {
        self.host = host
        self.port = port
        self.ttlSeconds = ttlSeconds
    }
}
