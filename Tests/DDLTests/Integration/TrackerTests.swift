import AsyncHTTPClient
import DDLCore
import DDLTracker
import DDLTrackerClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@Suite struct TrackerTests {
    /// Runs a tracker on 127.0.0.1 port 0 and passes its base URL.
    func withTracker(ttl: Int = 30, port: Int = 0, registry: PeerRegistry? = nil, _ body: @Sendable @escaping (String, HTTPClient) async throws -> Void) async throws {
        let bound = Eventually<Int>()
        let configuration = loopbackTrackerConfiguration(port: port, ttlSeconds: ttl)
        let services = Tracker.makeServices(configuration: configuration, registry: registry, logger: testLogger) {
            await bound.set($0)
        }
        try await withServices(services) {
            let url = "http://127.0.0.1:\(try await bound.wait())"
            try await withHTTPClient { client in try await body(url, client) }
        }
    }

    func raw(_ client: HTTPClient, _ method: HTTPMethod, _ url: String, body: String? = nil) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(5))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: bytes))
    }

    @Test func registerListHeartbeatRemove() async throws {
        try await withTracker { url, client in
            let tracker = TrackerClient(baseURL: url, httpClient: client)
            let answer = try await tracker.register(.init(port: 6000, host: "10.1.2.3", name: "alpha"))
            #expect(answer.ttl == 30)
            #expect(!answer.id.isEmpty)
            let peers = try await tracker.peers()
            #expect(peers.count == 1)
            #expect(peers.first?.host == "10.1.2.3")
            #expect(peers.first?.port == 6000)
            #expect(peers.first?.name == "alpha")
            #expect(try await tracker.heartbeat(id: answer.id) == .ok)
            try await tracker.deregister(id: answer.id)
            #expect(try await tracker.peers().isEmpty)
            #expect(try await tracker.heartbeat(id: answer.id) == .unknown)
        }
    }

    @Test func registrationStatusCodesAndSourceAddress() async throws {
        try await withTracker { url, client in
            let (status, body) = try await raw(client, .POST, url + "/v1/peers", body: #"{"port": 7001}"#)
            #expect(status == 201)
            let answer = try JSONDecoder().decode(TrackerAPI.RegisterResponse.self, from: Data(body.utf8))
            let (listStatus, listBody) = try await raw(client, .GET, url + "/v1/peers")
            #expect(listStatus == 200)
            let list = try JSONDecoder().decode(TrackerAPI.PeerList.self, from: Data(listBody.utf8))
            // The host defaults to the request's source address.
            #expect(list.peers.map(\.host) == ["127.0.0.1"])
            #expect(list.peers.first?.id == answer.id)
            #expect(try await raw(client, .PUT, url + "/v1/peers/\(answer.id)").0 == 204)
            #expect(try await raw(client, .PUT, url + "/v1/peers/nope").0 == 404)
            #expect(try await raw(client, .DELETE, url + "/v1/peers/\(answer.id)").0 == 204)
            #expect(try await raw(client, .DELETE, url + "/v1/peers/\(answer.id)").0 == 404)
            #expect(try await raw(client, .GET, url + "/healthz").0 == 200)
        }
    }

    @Test func sameEndpointRegisteredTwiceIsListedOnce() async throws {
        try await withTracker { url, client in
            let tracker = TrackerClient(baseURL: url, httpClient: client)
            let a = try await tracker.register(.init(port: 6000, host: "10.0.0.1"))
            let b = try await tracker.register(.init(port: 6000, host: "10.0.0.1"))
            #expect(a.id == b.id)
            #expect(try await tracker.peers().count == 1)
        }
    }

    @Test(arguments: [
        "", "not json", "{}", #"{"port": 0}"#, #"{"port": 70000}"#, #"{"port": "6000"}"#,
        #"{"port": 6000, "host": "bad host!"}"#, #"{"port": 6000, "host": "a/b"}"#,
        #"{"port": 6000, "name": "\#(String(repeating: "n", count: 65))"}"#,
    ])
    func malformedRegistrationsGet400(_ body: String) async throws {
        try await withTracker { url, client in
            let (status, text) = try await raw(client, .POST, url + "/v1/peers", body: body)
            #expect(status == 400)
            #expect(text.contains("\"detail\""))
        }
    }

    @Test func oversizedBodyIsRefused() async throws {
        try await withTracker { url, client in
            let big = #"{"port": 6000, "name": ""# + String(repeating: "x", count: 20_000) + #""}"#
            let (status, _) = try await raw(client, .POST, url + "/v1/peers", body: big)
            #expect((400..<500).contains(status))
        }
    }

    // The TTL tests age the registry on a clock they move by hand: on a busy machine a real
    // 300 ms sleep can take longer than the 1 s TTL.

    @Test func peerDisappearsAfterItsTTL() async throws {
        let clock = ManualClock()
        let registry = PeerRegistry(ttl: .seconds(1), now: clock.now)
        try await withTracker(ttl: 1, registry: registry) { url, client in
            let tracker = TrackerClient(baseURL: url, httpClient: client)
            let answer = try await tracker.register(.init(port: 6000, host: "10.0.0.7"))
            #expect(answer.ttl == 1)
            clock.advance(by: .seconds(1))
            #expect(try await tracker.peers().count == 1)  // not past its TTL yet
            clock.advance(by: .milliseconds(1))
            await registry.sweep()  // what the sweeper does every ttl/2
            #expect(try await tracker.peers().isEmpty)
            #expect(try await tracker.heartbeat(id: answer.id) == .unknown)
        }
    }

    @Test func heartbeatsKeepAPeerListed() async throws {
        let clock = ManualClock()
        let registry = PeerRegistry(ttl: .seconds(1), now: clock.now)
        try await withTracker(ttl: 1, registry: registry) { url, client in
            let tracker = TrackerClient(baseURL: url, httpClient: client)
            let answer = try await tracker.register(.init(port: 6000, host: "10.0.0.8"))
            for _ in 0..<6 {
                clock.advance(by: .milliseconds(900))
                #expect(try await tracker.heartbeat(id: answer.id) == .ok)
            }
            await registry.sweep()
            #expect(try await tracker.peers().count == 1)  // 5.4 s after registering, TTL 1 s
            // A heartbeat that comes too late finds the peer gone.
            clock.advance(by: .milliseconds(1001))
            #expect(try await tracker.heartbeat(id: answer.id) == .unknown)
        }
    }
}
