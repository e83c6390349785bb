import DDLCore
import DDLServerSupport
import Prometheus

/// The tracker's Prometheus metrics, on its own registry (see ``MetricName``). Built disabled
/// (config key `metrics: false`), they record nothing and the tracker serves no `/metrics`
/// and counts no requests; the dashboard and the download reports do not depend on them.
public final class TrackerMetrics: Sendable {
    /// The registry `/metrics` renders (empty when disabled).
    public let registry: PrometheusCollectorRegistry
    /// `false`: nothing is recorded, no `/metrics` route, no request counting.
    public let isEnabled: Bool
    private let peers: Gauge

    static let peersName = MetricName("ddl_tracker_peers", help: "Peer servers registered and live.")
    static let downloadsName = MetricName("ddl_tracker_downloads_total", help: "Downloads clients reported, by result.")
    static let downloadBytesName = MetricName(
        "ddl_tracker_download_bytes_total", help: "Bytes reported downloads received, by the kind of source (origin: the client's own fetches from the origin; peer; mirror).")
    static let downloadOriginBytesName = MetricName(
        "ddl_tracker_download_origin_bytes_total", help: "Bytes of reported downloads that came from the origin server, by any link (the client's or a peer's).")

    /// - Parameters:
    ///   - enabled: `false` builds metrics that record nothing (config key `metrics`).
    ///   - registry: a fresh one by default.
    public init(enabled: Bool = true, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        isEnabled = enabled
        // Disabled, the gauge lives in a registry of its own that nothing renders.
        peers = (enabled ? registry : PrometheusCollectorRegistry()).gauge(Self.peersName)
        guard enabled else { return }
        registry.registerBuildInfo(role: "tracker")
        // Every label value from the start, so a rate() sees the first report too.
        for result in TrackerAPI.DownloadReport.results.sorted() { _ = registry.counter(Self.downloadsName, [("result", result)]) }
        for kind in TrackerAPI.DownloadReport.kinds.sorted() { _ = registry.counter(Self.downloadBytesName, [("from", kind)]) }
        _ = registry.counter(Self.downloadOriginBytesName)
    }

    /// Sets `ddl_tracker_peers` (before each scrape).
    func setPeers(_ count: Int) {
        guard isEnabled else { return }
        peers.set(Int64(count))
    }

    /// Counts a validated report.
    func reported(_ report: TrackerAPI.DownloadReport) {
        guard isEnabled else { return }
        registry.counter(Self.downloadsName, [("result", report.result)]).increment()
        for source in report.sources where source.bytes > 0 {
            registry.counter(Self.downloadBytesName, [("from", source.kind)]).increment(by: source.bytes)
        }
        if report.originBytes > 0 { registry.counter(Self.downloadOriginBytesName).increment(by: report.originBytes) }
    }
}
