import AsyncHTTPClient
import DDLCore
import DDLPeer
import DDLServerSupport
import DDLTestOrigin
import DDLTracker
import DDLTrackerClient
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import Testing

/// The swarm token on every tracker and peer endpoint, and the peer's SSRF guard, against
/// real servers on loopback.
@Suite struct SecurityTests {
    static let token = SwarmToken.generate()

    enum Auth: CaseIterable { case none, wrong, right }

    func send(_ client: HTTPClient, _ method: HTTPMethod, _ url: String, auth: Auth, body: String? = nil, range: String? = nil) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        switch auth {
        case .none: break
        case .wrong: request.headers.add(name: "Authorization", value: "Bearer " + SwarmToken.generate())
        case .right: request.headers.add(name: "Authorization", value: "Bearer " + Self.token)
        }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        if let range { request.headers.add(name: "Range", value: range) }
        let response = try await client.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), String(buffer: bytes))
    }

    // MARK: token

    @Test func everyTrackerEndpointNeedsTheToken() async throws {
        let bound = Eventually<Int>()
        var configuration = loopbackTrackerConfiguration(port: 0)
        configuration.token = Self.token
        try await withServices(Tracker.makeServices(configuration: configuration, logger: testLogger) { await bound.set($0) }) {
            let base = "http://127.0.0.1:\(try await bound.wait())"
            try await withHTTPClient { client in
                for auth in [Auth.none, .wrong] {
                    for (method, path, body) in [(HTTPMethod.POST, "/v1/peers", #"{"port": 6000}"#), (.GET, "/v1/peers", nil),
                                                 (.PUT, "/v1/peers/abc", nil), (.DELETE, "/v1/peers/abc", nil)] {
                        let (status, text) = try await send(client, method, base + path, auth: auth, body: body)
                        #expect(status == 401, "\(method) \(path) \(auth)")
                        #expect(text.isEmpty)
                    }
                }
                let (created, answer) = try await send(client, .POST, base + "/v1/peers", auth: .right, body: #"{"port": 6000, "host": "10.0.0.9"}"#)
                #expect(created == 201)
                let id = try JSONDecoder().decode(TrackerAPI.RegisterResponse.self, from: Data(answer.utf8)).id
                #expect(try await send(client, .GET, base + "/v1/peers", auth: .right).0 == 200)
                #expect(try await send(client, .PUT, base + "/v1/peers/" + id, auth: .right).0 == 204)
                #expect(try await send(client, .DELETE, base + "/v1/peers/" + id, auth: .right).0 == 204)
                for auth in Auth.allCases { #expect(try await send(client, .GET, base + "/healthz", auth: auth).0 == 200) }
                // Scheme is case-insensitive; the token is not.
                var lower = HTTPClientRequest(url: base + "/v1/peers")
                lower.headers.add(name: "Authorization", value: "bearer " + Self.token)
                #expect(try await client.execute(lower, timeout: .seconds(5)).status == .ok)
                var upper = HTTPClientRequest(url: base + "/v1/peers")
                upper.headers.add(name: "Authorization", value: "Bearer " + Self.token.uppercased())
                #expect(try await client.execute(upper, timeout: .seconds(5)).status == .unauthorized)

                // TrackerClient sends the token, and says so when the tracker refuses it.
                #expect(try await TrackerClient(baseURL: base, httpClient: client, token: Self.token).peers().isEmpty)
                await #expect {
                    _ = try await TrackerClient(baseURL: base, httpClient: client).peers()
                } throws: { String(describing: $0).contains("401") }
            }
        }
    }

    @Test func thePeerNeedsTheTokenAndRegistersWithIt() async throws {
        let origin = TestOrigin(length: 1 << 20)
        let originPort = Eventually<Int>()
        let trackerPort = Eventually<Int>()
        var trackerConfiguration = loopbackTrackerConfiguration(port: 0)
        trackerConfiguration.token = Self.token
        try await withServices(Tracker.makeServices(configuration: trackerConfiguration, logger: testLogger) { await trackerPort.set($0) }
            + [origin.makeApplication(logger: testLogger) { await originPort.set($0) }]) {
            try await withHTTPClient { client in
                let trackerURL = "http://127.0.0.1:\(try await trackerPort.wait())"
                var configuration = PeerConfiguration(host: "127.0.0.1", port: 0, trackerURLs: [trackerURL])
                configuration.token = Self.token
                configuration.allowNetworks = [IPNetwork("127.0.0.0/8")!]
                let peerPort = Eventually<Int>()
                try await withServices(try PeerServer.makeServices(configuration: configuration, httpClient: client, logger: testLogger) { await peerPort.set($0) }) {
                    let peer = "http://127.0.0.1:\(try await peerPort.wait())"
                    let fetch = peer + "/v1/fetch?url=" + "http://127.0.0.1:\(try await originPort.wait())/files/a".addingPathPercentEncoding()
                    for auth in [Auth.none, .wrong] {
                        let (status, text) = try await send(client, .GET, fetch, auth: auth, range: "bytes=0-99")
                        #expect(status == 401)
                        #expect(text.isEmpty)
                    }
                    #expect(origin.getRequests == 0)
                    var request = HTTPClientRequest(url: fetch)
                    request.headers.add(name: "Range", value: "bytes=0-99")
                    request.headers.add(name: "Authorization", value: "Bearer " + Self.token)
                    let response = try await client.execute(request, timeout: .seconds(10))
                    #expect(response.status == .partialContent)
                    #expect(try await response.body.collect(upTo: 1 << 20) == origin.content.bytes(ByteRange(first: 0, last: 99)))
                    for auth in Auth.allCases { #expect(try await send(client, .GET, peer + "/healthz", auth: auth).0 == 200) }
                    let tracker = TrackerClient(baseURL: trackerURL, httpClient: client, token: Self.token)
                    let registered = try await eventually(within: 10) { (try? await tracker.peers().count) == 1 }
                    #expect(registered)
                }
            }
        }
    }

    // MARK: SSRF guard

    /// A peer (allow-list `allow`) with an "internal" test origin on 127.0.0.1 it must not reach.
    func withGuardedPeer(allow: [String] = [], _ body: @Sendable @escaping (_ peer: String, _ internalPort: Int, _ internal: TestOrigin, HTTPClient) async throws -> Void) async throws {
        let internalOrigin = TestOrigin(length: 1 << 20, seed: 42)
        let internalPort = Eventually<Int>()
        let peerPort = Eventually<Int>()
        var configuration = PeerConfiguration(host: "127.0.0.1", port: 0)
        configuration.allowNetworks = allow.map { IPNetwork($0)! }
        let originClient = PeerServer.makeOriginClient(configuration: configuration)
        let services = try PeerServer.makeServices(configuration: configuration, httpClient: originClient, logger: testLogger) { await peerPort.set($0) }
            + [internalOrigin.makeApplication(logger: testLogger) { await internalPort.set($0) }]
        do {
            try await withServices(services) {
                try await withHTTPClient { client in
                    try await body("http://127.0.0.1:\(try await peerPort.wait())", try await internalPort.wait(), internalOrigin, client)
                }
            }
        } catch {
            try? await originClient.shutdown()
            throw error
        }
        try await originClient.shutdown()
    }

    func fetch(_ client: HTTPClient, peer: String, _ url: String, range: String = "bytes=0-99") async throws -> (Int, String) {
        try await send(client, .GET, peer + "/v1/fetch?url=" + url.addingPathPercentEncoding(), auth: .none, range: range)
    }

    @Test func internalAddressesAreRefusedHoweverTheyAreSpelled() async throws {
        try await withGuardedPeer { peer, port, internalOrigin, client in
            let secret = String(buffer: internalOrigin.content.bytes(ByteRange(first: 0, last: 99)))
            let forbidden = [
                "127.0.0.1", "127.1.2.3", "0.0.0.0", "localhost", "LOCALHOST", "[::1]", "2130706433", "0177.0.0.1", "0x7f000001", "0x7f.1",
                "127.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]", "169.254.169.254", "10.0.0.1",
                "172.16.0.1", "192.168.0.1", "100.64.0.1", "198.18.0.1", "[fe80::1]", "[fd00::1]", "224.0.0.1", "255.255.255.255",
                // Not global unicast either (issue 12): IPv4-translated, IETF assignments (Teredo),
                // documentation, SRv6.
                "[::ffff:0:127.0.0.1]", "[2001::1]", "[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "[3fff::1]", "[5f00::1]",
            ]
            for host in forbidden {
                let (status, text) = try await fetch(client, peer: peer, "http://\(host):\(port)/files/secret")
                #expect(status == 403, "\(host): \(status) \(text)")
                #expect(text.contains("\"forbidden-address\""), "\(host): \(text)")
                #expect(text.contains("--allow-network"), "\(host): \(text)")
                #expect(!text.contains(secret))
            }
            for url in ["file:///etc/passwd", "ftp://127.0.0.1:\(port)/files/secret", "gopher://127.0.0.1:\(port)/", "http:///files/x",
                        "http://127.0.0.1:99999/files/x"] {
                let (status, text) = try await fetch(client, peer: peer, url)
                #expect(status == 400, "\(url): \(status) \(text)")
                #expect(!text.contains(secret))
            }
            let (status, text) = try await fetch(client, peer: peer, "http://127.0.0.1:\(port)/files/secret")
            let problem = try JSONDecoder().decode(Problem.self, from: Data(text.utf8))
            #expect(problem.type == "forbidden-address")
            #expect(problem.detail == "127.0.0.1 is loopback; allow it with --allow-network 127.0.0.0/8")
            #expect(status == 403)
            #expect(internalOrigin.getRequests == 0)
        }
    }

    @Test func anAllowedIPv4BlockDoesNotOpenItsOtherIPv6Forms() async throws {
        try await withGuardedPeer(allow: ["127.0.0.5/32"]) { peer, port, internalOrigin, client in
            for host in ["[64:ff9b::127.0.0.5]", "[::127.0.0.5]", "[2002:7f00:5::1]", "[::ffff:0:127.0.0.5]"] {
                let (status, text) = try await fetch(client, peer: peer, "http://\(host):\(port)/files/secret")
                #expect(status == 403 && text.contains("forbidden-address"), "\(host): \(status) \(text)")
            }
            #expect(internalOrigin.getRequests == 0)
        }
    }

    /// Answers every request with `302` to the `to` query parameter.
    func withRedirector(host: String, _ body: @Sendable @escaping (String) async throws -> Void) async throws {
        let router = Router(context: DDLRequestContext.self)
        router.get("/go") { request, _ -> Response in
            var headers = HTTPFields()
            headers[.location] = request.uri.queryParameters.get("to") ?? "/"
            return Response(status: .found, headers: headers)
        }
        let port = Eventually<Int>()
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: 0)),
                              onServerRunning: { await port.set($0.localAddress?.port ?? 0) }, logger: testLogger)
        try await withServices([app]) { try await body("http://\(host):\(try await port.wait())") }
    }

    @Test func redirectsToRefusedAddressesAreRefused() async throws {
        try await withRedirector(host: "127.0.0.2") { redirector in
            try await withGuardedPeer(allow: ["127.0.0.2/32"]) { peer, port, internalOrigin, client in
                let secret = String(buffer: internalOrigin.content.bytes(ByteRange(first: 0, last: 99)))
                for target in ["http://127.0.0.1:\(port)/files/secret", "http://169.254.169.254/latest/meta-data/",
                               "http://localhost:\(port)/files/secret", "http://[::ffff:127.0.0.1]:\(port)/files/secret"] {
                    let (status, text) = try await fetch(client, peer: peer, redirector + "/go?to=" + target.addingPathPercentEncoding())
                    #expect(status == 403, "\(target): \(status) \(text)")
                    #expect(text.contains("\"forbidden-address\"") && text.contains("redirected"), "\(target): \(text)")
                    #expect(!text.contains(secret))
                }
                // A redirect to another scheme is not followed.
                let (scheme, _) = try await fetch(client, peer: peer, redirector + "/go?to=" + "file:///etc/passwd".addingPathPercentEncoding())
                #expect(scheme == 502)
                // More than 5 hops.
                var url = redirector + "/go?to=" + (redirector + "/go").addingPathPercentEncoding()
                for _ in 0..<6 { url = redirector + "/go?to=" + url.addingPathPercentEncoding() }
                let (loop, loopText) = try await fetch(client, peer: peer, url)
                #expect(loop == 502 && loopText.contains("origin-redirects"), "\(loop) \(loopText)")
                #expect(internalOrigin.getRequests == 0)
            }
        }
    }

    @Test func allowedRedirectsAreFollowedAndTheRangeIsExact() async throws {
        try await withGuardedPeer(allow: ["127.0.0.0/8"]) { peer, port, internalOrigin, client in
            var request = HTTPClientRequest(url: peer + "/v1/fetch?url=" + "http://127.0.0.1:\(port)/redirect/3/a.bin".addingPathPercentEncoding())
            request.headers.add(name: "Range", value: "bytes=100-5099")
            let response = try await client.execute(request, timeout: .seconds(10))
            #expect(response.status == .partialContent)
            let body = try await response.body.collect(upTo: 1 << 20)
            #expect(body == internalOrigin.content.bytes(ByteRange(first: 100, last: 5099)))
            #expect(internalOrigin.getRequests == 1)
            // The odd spellings resolve to an allowed address and work too (connected by IP, Host kept).
            let (status, text) = try await fetch(client, peer: peer, "http://2130706433:\(port)/files/a.bin", range: "bytes=0-9")
            #expect(status == 206, "\(text)")
        }
    }
}
