import DDLCore
import DDLServerSupport
import Hummingbird

/// The cache's HTTP API (behind the swarm token): `GET /v1/cache` lists the cached files,
/// `DELETE /v1/cache/{id}` removes one and `DELETE /v1/cache` all of them.
struct CacheRoutes: Sendable {
    let cache: PeerCache

    func add(to router: Router<DDLRequestContext>) {
        router.get("/v1/cache") { _, _ in
            let files = await cache.list()
            return try jsonResponse(PeerCacheAPI.Listing(files: files, storedBytes: cache.storedBytes, capacity: cache.configuration.capacity), status: .ok)
        }
        // What a client asks before a download: which bytes of this file (the URL's identity,
        // and the validator in If-Range) are stored here.
        router.get("/v1/cache/holdings") { request, _ in
            guard let url = request.uri.queryParameters.get("url"), let key = cache.key(url: url, ifRange: request.headers[.ifRange]) else {
                return try jsonResponse(CacheHoldings(ranges: []), status: .ok)
            }
            let ranges = await cache.holdings(key).map { [$0.first, $0.last] }
            return try jsonResponse(CacheHoldings(ranges: ranges), status: .ok)
        }
        router.delete("/v1/cache") { _, _ in
            try jsonResponse(PeerCacheAPI.Removal(removed: await cache.remove(id: nil)), status: .ok)
        }
        router.delete("/v1/cache/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            let removed = await cache.remove(id: id)
            guard removed > 0 else { return problem(.notFound, type: "not-cached", "no cached file has the id \(id)") }
            return try jsonResponse(PeerCacheAPI.Removal(removed: removed), status: .ok)
        }
    }
}
