import Foundation
import DDLCore
import DDLTLS
import DDLServerSupport

/// Settings of a peer server.
public struct PeerConfiguration: Sendable, Hashable {
    /// Address to bind.
    public var host: String = "0.0.0.0"
    /// Port to bind; 0 picks a free one.
    public var port: Int = 6000
    /// Host to advertise to the tracker. When `nil`, a specific bind address is advertised,
    /// and for a wildcard bind the tracker uses the registration's source address.
    public var advertise: String?
    /// Trackers' base URLs, e.g. `https://10.0.0.5:5000`: the peer registers and heartbeats
    /// with each one independently. Empty runs without registering.
    public var trackerURLs: [String] = []
    /// Fingerprints the trackers' certificates may have (config key `tracker_fingerprint`).
    public var trackerFingerprints: [CertificateFingerprint] = []
    /// The certificate and key this peer serves https with, and whose fingerprint it
    /// registers; `nil` serves plain HTTP (`--plain-http`).
    public var tls: TLSIdentity?
    /// Name shown in peer lists.
    public var name: String?
    /// Most origin fetches at once; past it, `503` with `Retry-After`.
    public var maxConcurrentFetches: Int = 16
    /// Seconds to connect to the origin.
    public var originConnectTimeoutSeconds: Int = 10
    /// Seconds without a byte from the origin before the fetch fails (`504`).
    public var originReadTimeoutSeconds: Int = 30
    /// The swarm token: callers must send `Authorization: Bearer <token>`, and the peer
    /// sends it to the tracker. `nil` runs an open peer (only with an explicit `insecure`).
    public var token: String?
    /// Connection caps and the time a reader may take no bytes before its connection is
    /// closed (config keys `max_connections`, `max_connections_per_address`, `stall_timeout`).
    public var connectionLimits = ConnectionLimits()
    /// Blocks the SSRF guard lets through although a rule refuses them (loopback, private,
    /// link-local…). Empty by default: origins must be public addresses.
    public var allowNetworks: [IPNetwork] = []
    /// Directory of the cache of fetched ranges (see `PeerCache`); `nil` turns the cache
    /// off, and the peer relays bytes without keeping them. One running peer per directory.
    public var cacheDirectory: String?
    /// Most bytes the cache holds; past it, the least recently used files are removed.
    public var cacheCapacity: Int64 = 10 << 30
    /// Cached files unused for this long are removed.
    public var cacheMaxAgeSeconds: Int = 7 * 24 * 3600
    /// Query parameters left out of the cache key besides the object stores' signing
    /// parameters (config key `cache_key_ignore_params`; exact names, see `URLIdentity`).
    public var cacheKeyIgnoreParams: [String] = []
    /// Serve Prometheus metrics at `/metrics` and update them on the data path (config key
    /// `metrics`, `--no-metrics`). Off, the peer records none; its status in heartbeats stays.
    public var metrics: Bool = true

    /// The cache directory `ddl server` uses when none is configured:
    /// `$XDG_CACHE_HOME/ddl/peer-cache`, else `~/.cache/ddl/peer-cache`.
    public static func defaultCacheDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        SeedAPI.defaultCacheDirectory(environment: environment)
    }

    public init(host: String = "0.0.0.0", port: Int = 6000, trackerURLs: [String] = []) {
        self.host = host
        self.port = port
        self.trackerURLs = trackerURLs
    }

    /// The host to send in the registration, if any.
    public var advertisedHost: String? {
        if let advertise, !advertise.isEmpty { return advertise }
        if host == "0.0.0.0" || host == "::" || host.isEmpty { return nil }
        return host
    }
}
