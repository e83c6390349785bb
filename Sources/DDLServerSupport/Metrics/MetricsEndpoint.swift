import DDLCore
import Hummingbird
import Prometheus

/// `GET /metrics`: the registry in the Prometheus text exposition format (0.0.4).
public struct MetricsEndpoint: Sendable {
    /// The server's own registry.
    public let registry: PrometheusCollectorRegistry
    /// Runs before each scrape: sets gauges that are cheaper to read than to keep up to date
    /// (fetches in flight, peers registered).
    public let refresh: @Sendable () async -> Void

    public init(registry: PrometheusCollectorRegistry, refresh: @escaping @Sendable () async -> Void = {}) {
        self.registry = registry
        self.refresh = refresh
    }

    /// The exposition document.
    public func render() async -> [UInt8] {
        await refresh()
        return registry.emitToBuffer()
    }

    /// The Content-Type Prometheus expects for the text format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}

extension PrometheusCollectorRegistry {
    /// Registers `ddl_build_info{role, version} 1`.
    public func registerBuildInfo(role: String) {
        gauge(MetricName("ddl_build_info", help: "Always 1; the labels say which ddl this is."), [("role", role), ("version", BuildInfo.version)]).set(Int64(1))
    }
}

extension RouterMethods {
    /// Serves `endpoint` at `GET /metrics` (guarded like the routes around it).
    @discardableResult
    public func addMetrics(_ endpoint: MetricsEndpoint) -> Self {
        get("/metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = MetricsEndpoint.contentType
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: await endpoint.render())))
        }
    }
}
