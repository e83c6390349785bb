import AsyncHTTPClient
import DDLCore
import Foundation
import NIOCore
import NIOFoundationCompat

extension Downloader {
    /// Asks every peer that fetches from the origin which bytes of `file` its cache holds
    /// (`GET /v1/cache/holdings`, in parallel, 2 s each). A peer that does not answer holds
    /// nothing, as far as this download knows.
    func cacheHoldings(of file: RemoteFile, sources: [DownloadSource]) async -> [String: CacheHoldings] {
        guard let validator = file.ifRangeValidator else { return [:] }
        let peers = sources.compactMap { source -> (String, PeerSource)? in
            guard let peer = source.kind as? PeerSource, peer.targetIsOrigin else { return nil }
            return (source.id, peer)
        }
        guard !peers.isEmpty else { return [:] }
        // Peers' answers are never followed elsewhere (the swarm client follows no redirect).
        let client = swarmClient ?? httpClient
        let logger = self.logger
        let token = configuration.token
        return await withTaskGroup(of: (String, CacheHoldings?).self) { group in
            for (id, peer) in peers {
                group.addTask {
                    var request = HTTPClientRequest(url: "\(peer.baseURL)/v1/cache/holdings?url=\(file.url.addingPathPercentEncoding())")
                    request.tlsConfiguration = peer.tlsConfiguration
                    request.headers.add(name: "If-Range", value: validator)
                    if let token { request.headers.add(name: "Authorization", value: SwarmToken.authorizationValue(token)) }
                    do {
                        let response = try await client.execute(request, timeout: .seconds(2), logger: logger)
                        let body = try await response.body.collect(upTo: 1 << 20)
                        guard response.status == .ok else { return (id, nil) }
                        return (id, try JSONDecoder().decode(CacheHoldings.self, from: body))
                    } catch {
                        logger.debug("cache holdings not known", metadata: ["peer": "\(id)", "error": "\(error)"])
                        return (id, nil)
                    }
                }
            }
            var holdings: [String: CacheHoldings] = [:]
            for await (id, answer) in group { if let answer { holdings[id] = answer } }
            return holdings
        }
    }
}
