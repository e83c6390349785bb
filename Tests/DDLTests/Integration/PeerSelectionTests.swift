import AsyncHTTPClient
import DDLApp
import DDLClient
import DDLCore
import DDLTracker
import DDLTrackerClient
import Foundation
import NIOCore
import Testing

/// A download asks the tracker for the peers it ranks highest for the file
/// (`GET /v1/peers?file=KEY&limit=K`, `--swarm-peers`): every client of a file, and its
/// preheat, get the same few peers, however many the swarm has.
@Suite struct PeerSelectionTests {
    func withTracker(registry: PeerRegistry, maxListed: Int = 1000, _ body: @Sendable @escaping (String, HTTPClient) async throws -> Void) async throws {
        var configuration = loopbackTrackerConfiguration()
        configuration.maxListed = maxListed
        let bound = Eventually<Int>()
        try await withServices(Tracker.makeServices(configuration: configuration, registry: registry, logger: testLogger) { await bound.set($0) }) {
            let url = "http://127.0.0.1:\(try await bound.wait())"
            try await withHTTPClient { client in try await body(url, client) }
        }
    }

    func get(_ client: HTTPClient, _ url: String) async throws -> (status: Int, peers: [String]) {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { return (Int(response.status.code), []) }
        let list = try JSONDecoder().decode(TrackerAPI.PeerList.self, from: Data(buffer: body))
        return (200, list.peers.map { "\($0.host):\($0.port)" })
    }

    @Test func theTrackerListsTheHighestRankedPeersForAFile() async throws {
        let registry = PeerRegistry()
        for index in 0..<40 { _ = await registry.register(host: "10.0.0.\(index + 1)", port: 6000, name: nil, source: "10.0.0.\(index + 1)") }
        try await withTracker(registry: registry, maxListed: 30) { url, client in
            let expected = await registry.list(forFile: "0123456789abcdef", limit: 5).map { "\($0.host):\($0.port)" }
            let (status, listed) = try await get(client, url + "/v1/peers?file=0123456789abcdef&limit=5")
            #expect(status == 200 && listed == expected)
            // The same through the client, and again (the cached answer).
            let tracker = TrackerClient(baseURL: url, httpClient: client)
            #expect(try await tracker.peers(file: "0123456789abcdef", limit: 5).map { "\($0.host):\($0.port)" } == expected)
            #expect(try await tracker.peers(file: "0123456789abcdef", limit: 5).map { "\($0.host):\($0.port)" } == expected)
            #expect(try await tracker.peers(file: "fedcba9876543210", limit: 5).map { "\($0.host):\($0.port)" } != expected)
            // lastSeen as the whole list writes it (ISO 8601, seconds, UTC).
            for peer in try await tracker.peers(file: "0123456789abcdef", limit: 5) {
                #expect(peer.lastSeen.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/) != nil, "\(peer.lastSeen)")
            }
            // A limit above max_listed gets max_listed; no limit, max_listed; no file, the full list.
            #expect(try await get(client, url + "/v1/peers?file=abc&limit=5000").peers.count == 30)
            #expect(try await get(client, url + "/v1/peers?file=abc").peers.count == 30)
            #expect(try await get(client, url + "/v1/peers?limit=7").peers.count == 7)
            for bad in ["limit=0", "limit=-3", "limit=x", "file=", "file=" + String(repeating: "a", count: 129)] {
                #expect(try await get(client, url + "/v1/peers?" + bad).status == 400, "\(bad)")
            }
        }
    }

    @Test func aDownloadAndItsPreheatUseTheSamePeersOfFour() async throws {
        let size = FanOutTests.size
        let hosts = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
        // The fan-out tests' swarm (over TLS, with caches) and client, on four peers.
        try await LocalSwarm.run(try FanOutTests().options(peers: hosts)) { swarm in
            var configuration = try FanOutTests().configuration(swarm)
            configuration.swarmPeers = 2
            configuration.useSelf = false
            // The two of highest weight for this file, computed here from the ports.
            let key = Rendezvous.fileKey(url: swarm.fileURL())
            let endpoints = zip(hosts, swarm.peerPorts).map { (host: $0, port: $1) }
            let ranked = endpoints.sorted {
                Rendezvous.listWeight(file: Rendezvous.fileHash(key: key), peer: Rendezvous.peerHash(host: $0.host, port: $0.port))
                    > Rendezvous.listWeight(file: Rendezvous.fileHash(key: key), peer: Rendezvous.peerHash(host: $1.host, port: $1.port))
            }
            let chosen = Set(ranked.prefix(2).map { "\($0.host):\($0.port)" })

            let preheat = try await preheat(configuration)
            #expect(preheat.peers == 2 && preheat.bytes == size && preheat.failures.isEmpty)

            let summary = try await download(configuration)
            #expect(try sha256(ofFile: configuration.outputFile!) == swarm.origin!.content.sha256())
            // ("self" has the spot checks' refereeing bytes from the origin.)
            let used = summary.sources.filter { $0.bytes > 0 && $0.source.hasPrefix("peer ") }.map(\.source)
            #expect(used.count == 2 && used.allSatisfy { source in chosen.contains { source.contains($0) } }, "\(used) against \(chosen)")
            #expect(summary.cachedBytes == size, "every piece came from the cache the preheat filled")
            for (index, endpoint) in endpoints.enumerated() where !chosen.contains("\(endpoint.host):\(endpoint.port)") {
                #expect(swarm.peerStats[index].bytesServed == 0, "\(endpoint) is not among the file's peers but served bytes")
            }
        }
    }
}
