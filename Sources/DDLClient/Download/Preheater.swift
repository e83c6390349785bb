import AsyncHTTPClient
import DDLCore
import DDLTLS
import DDLTrackerClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat

/// `ddl preheat URL`: fills the swarm's caches with a file without saving it here. The file
/// is cut as a download through the same peers would cut it, and each piece is sent to its
/// owner (`POST /v1/preheat`), which fetches it from the origin over its own link and stores
/// it: a later `ddl get` of the file on any machine of the swarm comes from the LAN.
package struct Preheater: Sendable {
    /// What a preheat did.
    package struct Summary: Sendable, Codable {
        package var url: String
        package var bytes: Int64
        /// Bytes the caches held already.
        package var cachedBefore: Int64
        package var peers: Int
        package var seconds: Double
        /// Pieces no peer could fetch, one sentence each.
        package var failures: [String]
    }

    let configuration: ClientConfiguration
    let httpClient: HTTPClient
    let logger: Logger
    let pins: PinnedCertificates

    package init(configuration: ClientConfiguration, httpClient: HTTPClient, logger: Logger) {
        self.configuration = configuration
        self.httpClient = httpClient
        self.logger = logger
        pins = PinnedCertificates(timeout: .seconds(Int64(configuration.connectTimeoutSeconds)))
    }

    package func run() async throws(DownloadError) -> Summary {
        // The tracker and the peers are asked through a client that follows no redirect.
        let swarmClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Downloader.swarmClientConfiguration(configuration))
        let result: Result<Summary, DownloadError>
        do throws(DownloadError) {
            result = .success(try await run(swarmClient: swarmClient))
        } catch {
            result = .failure(error)
        }
        try? await swarmClient.shutdown()
        return try result.get()
    }

    private func run(swarmClient: HTTPClient) async throws(DownloadError) -> Summary {
        let started = ContinuousClock.now
        let file = try await OriginProbe(httpClient: httpClient, logger: logger).probe(configuration.url)
        guard let length = file.length, file.acceptsRanges, length > 0 else {
            throw .usage("the origin does not serve byte ranges of a known length: peers cannot cache it in pieces")
        }
        guard let validator = file.ifRangeValidator else {
            throw .usage("the origin sends neither a strong ETag nor Last-Modified: peers cache only files they can tell versions of")
        }
        guard !configuration.trackerURLs.isEmpty else { throw .usage("preheat needs a tracker (--tracker URL)") }
        let listed: [TrackerAPI.Peer]
        do {
            // The peers a download of this file will be given (the same key and number).
            listed = try await configuration.trackerSet(httpClient: swarmClient, pins: pins).peers(
                file: Rendezvous.fileKey(url: file.url), limit: configuration.swarmPeers)
        } catch {
            throw .network("the tracker could not be asked for peers: \(error)")
        }
        // Only peers whose address passes the LAN policy, as a download would use.
        let policy = AddressPolicy(allowNetworks: configuration.allowPeerNetworks, scope: .lan)
        let inPolicy = listed.filter { peer in IPAddress(peer.host).map { policy.check($0) == nil } ?? false }
        let (peers, refused) = await PeerTrust.secure(inPolicy, pins: pins, plainHTTP: configuration.plainHTTP)
        guard !peers.isEmpty else {
            throw .usage("the tracker lists no peers to preheat (\(listed.count - inPolicy.count) outside the address policy"
                + (refused.isEmpty ? ")" : ", \(refused.count) left out: \(refused.prefix(3).joined(separator: "; ")))"))
        }
        let pinned = PinnedFile(file)
        let sources = peers.map {
            DownloadSource(PeerSource(
                host: $0.peer.host, port: $0.peer.port, name: $0.peer.name, target: pinned, targetIsOrigin: true, token: configuration.token,
                tlsConfiguration: $0.tlsConfiguration))
        }
        // Cut and assigned as a download through these peers would be (see Downloader+Plan).
        let plan = configuration.pieceSize.map { PiecePlan(length: length, pieceSize: $0) } ?? PiecePlan.automatic(length: length, sources: peers.count + 1)
        let owners = Downloader.owners(plan: plan, file: file, sources: sources, holdings: [:], ignoring: configuration.cacheKeyIgnoreParams) ?? []
        let byID = Dictionary(sources.map { ($0.id, $0.kind as! PeerSource) }, uniquingKeysWith: { a, _ in a })
        var queues: [String: [Int]] = [:]
        for piece in 0..<plan.count { if let owner = owners[piece] { queues[owner, default: []].append(piece) } }
        let results = await withTaskGroup(of: [PieceResult].self) { group in
            for (owner, pieces) in queues {
                guard let peer = byID[owner] else { continue }
                // Two pieces in flight per peer, like a download.
                for lane in 0..<2 {
                    let mine = stride(from: lane, to: pieces.count, by: 2).map { pieces[$0] }
                    group.addTask {
                        var done: [PieceResult] = []
                        for piece in mine {
                            done.append(await preheat(plan.range(of: piece), at: peer, url: file.url, validator: validator, client: swarmClient))
                        }
                        return done
                    }
                }
            }
            var all: [PieceResult] = []
            for await batch in group { all += batch }
            return all
        }
        return Summary(
            url: URLIdentity.printable(file.url), bytes: results.reduce(0) { $0 + $1.bytes }, cachedBefore: results.reduce(0) { $0 + $1.cachedBefore },
            peers: queues.count, seconds: (ContinuousClock.now - started).seconds, failures: results.compactMap(\.failure))
    }

    struct PieceResult: Sendable {
        var bytes: Int64 = 0
        var cachedBefore: Int64 = 0
        var failure: String?
    }

    /// Asks `peer` to fetch `range` into its cache; waits until it is stored.
    func preheat(_ range: ByteRange, at peer: PeerSource, url: String, validator: String, client: HTTPClient) async -> PieceResult {
        var request = HTTPClientRequest(url: "\(peer.baseURL)/v1/preheat?url=\(url.addingPathPercentEncoding())")
        request.tlsConfiguration = peer.tlsConfiguration
        request.method = .POST
        request.headers.add(name: "Range", value: range.rangeHeader)
        request.headers.add(name: "If-Range", value: validator)
        if let token = configuration.token { request.headers.add(name: "Authorization", value: SwarmToken.authorizationValue(token)) }
        let timeout = TimeAmount.seconds(Int64(configuration.connectTimeoutSeconds + configuration.readTimeoutSeconds) + 600)
        do {
            let response = try await client.execute(request, timeout: timeout, logger: logger)
            let body = try await response.body.collect(upTo: 64 << 10)
            guard response.status == .ok else {
                let detail = (try? JSONDecoder().decode(Problem.self, from: body))?.detail ?? "HTTP \(response.status.code)"
                return PieceResult(failure: "bytes \(range.first)-\(range.last) at \(peer.id): \(detail)")
            }
            let answer = try JSONDecoder().decode(PeerCacheAPI.PreheatResult.self, from: body)
            return PieceResult(bytes: answer.bytes, cachedBefore: answer.cachedBefore)
        } catch {
            return PieceResult(failure: "bytes \(range.first)-\(range.last) at \(peer.id): \(error)")
        }
    }
}
