import Prometheus

/// Builds Prometheus metrics from full names (`ddl_peer_served_bytes_total`) with their help
/// text, on one injected registry: every server has its own, so many servers in one process
/// (the tests, `ddl demo`) each count their own.
public struct MetricName: Sendable, Hashable {
    /// The full name, e.g. `ddl_peer_served_bytes_total`.
    public let name: String
    /// The `# HELP` text.
    public let help: String

    public init(_ name: String, help: String) {
        precondition(name.hasPrefix("ddl_"), "ddl metrics are named ddl_…")
        self.name = name
        self.help = help
    }

    /// The name split the way swift-prometheus wants it: the last `_` part as the unit.
    var descriptor: MetricNameDescriptor {
        let cut = name.lastIndex(of: "_")!
        return MetricNameDescriptor(metricName: String(name[..<cut]), unitName: String(name[name.index(after: cut)...]), helpText: help)
    }
}

extension PrometheusCollectorRegistry {
    /// The counter `name` with `labels` (the same one on every call).
    public func counter(_ name: MetricName, _ labels: [(String, String)] = []) -> Counter {
        labels.isEmpty ? makeCounter(descriptor: name.descriptor) : makeCounter(descriptor: name.descriptor, labels: labels)
    }

    /// The gauge `name` with `labels` (the same one on every call).
    public func gauge(_ name: MetricName, _ labels: [(String, String)] = []) -> Gauge {
        labels.isEmpty ? makeGauge(descriptor: name.descriptor) : makeGauge(descriptor: name.descriptor, labels: labels)
    }

    /// The histogram `name` of durations, exposed in seconds.
    public func durationHistogram(_ name: MetricName, buckets: [Duration]) -> DurationHistogram {
        makeDurationHistogram(descriptor: name.descriptor, buckets: buckets)
    }
}
