import DDLCore
import DDLServerSupport
import Prometheus

/// The tracker's Prometheus metrics, on its own registry (see ``MetricName``).
public final class TrackerMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    private let peers: Gauge

    static let peersName = MetricName("ddl_tracker_peers", help: "Peer servers registered and live.")
    static let downloadsName = MetricName("ddl_tracker_downloads_total", help: "Downloads clients reported, by result.")
    static let downloadBytesName = MetricName(
        "ddl_tracker_download_bytes_total", help: "Bytes reported downloads received, by the kind of source (origin: the client's own fetches from the origin; peer; mirror).")
    static let downloadOriginBytesName = MetricName(
        "ddl_tracker_download_origin_bytes_total", help: "Bytes of reported downloads that came from the origin server, by any link (the client's or a peer's).")

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        registry.registerBuildInfo(role: "tracker")
        peers = registry.gauge(Self.peersName)
        // Every label value from the start, so a rate() sees the first report too.
        for result in TrackerAPI.DownloadReport.results.sorted() { _ = registry.counter(Self.downloadsName, [("result", result)]) }
        for kind in TrackerAPI.DownloadReport.kinds.sorted() { _ = registry.counter(Self.downloadBytesName, [("from", kind)]) }
        _ = registry.counter(Self.downloadOriginBytesName)
    }

    /// Sets `ddl_tracker_peers` (before each scrape).
    func setPeers(_ count: Int) { peers.set(Int64(count)) }

    /// Counts a validated report.
    func reported(_ report: TrackerAPI.DownloadReport) {
        registry.counter(Self.downloadsName, [("result", report.result)]).increment()
        for source in report.sources where source.bytes > 0 {
            registry.counter(Self.downloadBytesName, [("from", source.kind)]).increment(by: source.bytes)
        }
        if report.originBytes > 0 { registry.counter(Self.downloadOriginBytesName).increment(by: report.originBytes) }
    }
}
