import DDLServerSupport
import Prometheus

/// A peer server's Prometheus metrics, on its own registry (see ``MetricName``).
///
/// The data path adds to them once per chunk (an atomic add each), never per byte and never
/// under a lock. Built disabled (config key `metrics: false`), every recording method returns
/// at once: one branch on the data path, and the server serves no `/metrics`.
public final class PeerMetrics: Sendable {
    /// Where served bytes came from: the `from` label of `ddl_peer_served_bytes_total`.
    public enum ServedFrom: String, Sendable, CaseIterable {
        /// Relayed from the origin as it arrived.
        case origin
        /// Answered from the peer's cache.
        case cache
    }

    /// The registry `/metrics` renders (empty when disabled).
    public let registry: PrometheusCollectorRegistry
    /// `false`: nothing is recorded and the server has no `/metrics` route.
    public let isEnabled: Bool
    private let originBytes: Counter
    private let servedFromOrigin: Counter
    private let servedFromCache: Counter
    private let fetchDuration: DurationHistogram
    private let activeFetches: Gauge

    static let originBytesName = MetricName("ddl_peer_origin_bytes_total", help: "Body bytes received from origins.")
    static let servedBytesName = MetricName("ddl_peer_served_bytes_total", help: "Body bytes streamed to clients, by where they came from (origin or cache).")
    static let fetchDurationName = MetricName(
        "ddl_peer_fetch_duration_seconds", help: "Time from a fetch request to its last byte, for fetches the origin answered with 206.")
    static let activeFetchesName = MetricName("ddl_peer_active_fetches", help: "Fetches in progress.")

    /// Bucket bounds of `ddl_peer_fetch_duration_seconds` (pieces take from milliseconds on a
    /// LAN to a minute on a slow link).
    static let durationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
    ]

    /// - Parameters:
    ///   - enabled: `false` builds metrics that record nothing (config key `metrics`).
    ///   - registry: a fresh one by default; pass one to share it with other metrics.
    public init(enabled: Bool = true, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        isEnabled = enabled
        if enabled { registry.registerBuildInfo(role: "peer") }
        // Disabled, the instruments live in a registry of their own that nothing renders.
        let instruments = enabled ? registry : PrometheusCollectorRegistry()
        originBytes = instruments.counter(Self.originBytesName)
        servedFromOrigin = instruments.counter(Self.servedBytesName, [("from", ServedFrom.origin.rawValue)])
        servedFromCache = instruments.counter(Self.servedBytesName, [("from", ServedFrom.cache.rawValue)])
        fetchDuration = instruments.durationHistogram(Self.fetchDurationName, buckets: Self.durationBuckets)
        activeFetches = instruments.gauge(Self.activeFetchesName)
    }

    /// `bytes` received from an origin.
    @inline(__always)
    public func receivedFromOrigin(_ bytes: Int) {
        guard isEnabled else { return }
        originBytes.increment(by: Int64(bytes))
    }

    /// `bytes` streamed to a client, taken `from` the origin or the cache.
    @inline(__always)
    public func served(_ bytes: Int, from: ServedFrom) {
        guard isEnabled else { return }
        switch from {
        case .origin: servedFromOrigin.increment(by: Int64(bytes))
        case .cache: servedFromCache.increment(by: Int64(bytes))
        }
    }

    /// A fetch that began at `start` streamed its last byte.
    public func fetchFinished(startedAt start: ContinuousClock.Instant) {
        guard isEnabled else { return }
        fetchDuration.record(ContinuousClock.now - start)
    }

    /// Sets `ddl_peer_active_fetches` (read from the fetch limiter before each scrape).
    func setActiveFetches(_ count: Int) {
        guard isEnabled else { return }
        activeFetches.set(Int64(count))
    }
}
