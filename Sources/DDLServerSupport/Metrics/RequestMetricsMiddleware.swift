import Hummingbird
import Prometheus
import Synchronization

/// Counts requests by route and status as `ddl_<role>_requests_total{route,status}`. The
/// route is the matched pattern (`/v1/peers/{id}`), `NotFound` for no match: the label set
/// stays bounded whatever paths callers try. Add it first, so that refused requests (`401`)
/// count too.
public struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let counters: RequestCounters

    /// - Parameter role: `tracker` or `peer`.
    public init(registry: PrometheusCollectorRegistry, role: String) {
        self.counters = RequestCounters(registry: registry, name: MetricName("ddl_\(role)_requests_total", help: "HTTP requests answered, by route and status."))
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            counters.count(route: context.endpointPath ?? "NotFound", status: response.status.code)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            counters.count(route: context.endpointPath ?? "NotFound", status: status)
            throw error
        }
    }
}

/// The counters of ``RequestMetricsMiddleware``, cached by route and status.
final class RequestCounters: Sendable {
    private struct Key: Hashable {
        let route: String
        let status: Int
    }

    private let registry: PrometheusCollectorRegistry
    private let name: MetricName
    private let cache = Mutex<[Key: Counter]>([:])

    init(registry: PrometheusCollectorRegistry, name: MetricName) {
        self.registry = registry
        self.name = name
    }

    func count(route: String, status: Int) {
        let key = Key(route: route, status: status)
        let counter = cache.withLock { cache in
            if let counter = cache[key] { return counter }
            let counter = registry.counter(name, [("route", route), ("status", String(status))])
            cache[key] = counter
            return counter
        }
        counter.increment()
    }
}
