import AsyncHTTPClient
import DDLCore
import DDLPeer
import DDLServerSupport
import DDLTestOrigin
import Foundation
import NIOCore
import Testing

/// A peer under clients that hold its connections (half-open, or reading one byte a second),
/// and origins with several addresses, a dead one among them.
@Suite struct PeerHardeningTests {
    /// A peer (settings from `configure`, loopback origins allowed) and a test origin.
    func withPeer(
        originSize: Int64 = 1 << 20, resolver: HostResolver = .system, configure: (inout PeerConfiguration) -> Void = { _ in },
        _ body: @Sendable @escaping (_ peerPort: Int, _ originPort: Int, _ origin: TestOrigin, HTTPClient) async throws -> Void
    ) async throws {
        let origin = TestOrigin(length: originSize)
        let originPort = Eventually<Int>()
        let peerPort = Eventually<Int>()
        var configuration = PeerConfiguration(host: "127.0.0.1", port: 0)
        configuration.allowNetworks = [IPNetwork("127.0.0.0/8")!]
        configure(&configuration)
        let client = PeerServer.makeOriginClient(configuration: configuration)
        let services = try PeerServer.makeServices(configuration: configuration, httpClient: client, resolver: resolver, logger: testLogger) {
            await peerPort.set($0)
        } + [origin.makeApplication(logger: testLogger) { await originPort.set($0) }]
        do {
            try await withServices(services) {
                try await withHTTPClient { http in
                    try await body(try await peerPort.wait(), try await originPort.wait(), origin, http)
                }
            }
        } catch {
            origin.releaseAllGates()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    func fetch(_ client: HTTPClient, peerPort: Int, _ url: String, range: String = "bytes=0-99") async throws -> (Int, String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(peerPort)/v1/fetch?url=" + url.addingPathPercentEncoding())
        request.headers.add(name: "Range", value: range)
        let response = try await client.execute(request, timeout: .seconds(20))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    @Test func readersThatTakeNoBytesAreEvictedAndFreeTheirFetchSlots() async throws {
        // Two fetch slots, both taken by readers that never read; a stall timeout of 2 s.
        try await withPeer(originSize: 256 << 20, configure: {
            $0.maxConcurrentFetches = 2
            $0.connectionLimits.stallTimeoutSeconds = 2
        }) { peerPort, originPort, _, client in
            let url = "http://127.0.0.1:\(originPort)/files/big.bin"
            var slow: [RawConnection] = []
            for _ in 0..<2 {
                let connection = try await RawConnection(to: peerPort, receiveBuffer: 4096)
                try await connection.send("GET /v1/fetch?url=\(url.addingPathPercentEncoding()) HTTP/1.1\r\nHost: peer\r\nRange: bytes=0-\((256 << 20) - 1)\r\n\r\n")
                // Its answer started: it holds a fetch slot. Not a byte more is read.
                #expect(try await connection.readStatus() == 206)
                slow.append(connection)
            }
            // Both slots are held until the stalled readers are evicted (2 s without
            // progress), not for as long as they care to hold on.
            let served = try await eventually(within: 30) { try await fetch(client, peerPort: peerPort, url).0 == 206 }
            #expect(served, "the stalled readers still hold every fetch slot")
            withExtendedLifetime(slow) {}
        }
    }

    @Test func connectionsPerSourceAddressAreCapped() async throws {
        try await withPeer(configure: { $0.connectionLimits.maxConnectionsPerAddress = 4 }) { peerPort, _, _, _ in
            // Four kept-alive connections from 127.0.0.1, each admitted (it got an answer).
            var open: [RawConnection] = []
            for _ in 0..<4 {
                let connection = try await RawConnection(to: peerPort)
                #expect(try await connection.request("GET", "/healthz")?.status == 200)
                open.append(connection)
            }
            // The fifth from the same address is closed without an answer.
            let fifth = try await RawConnection(to: peerPort)
            let answer = try? await fifth.request("GET", "/healthz")
            #expect(answer == nil, "a connection over the per-address cap was served: \(String(describing: answer))")
            // Another address is not locked out by the first one's connections.
            let other = try await RawConnection(to: peerPort, from: "127.0.0.2")
            #expect(try await other.request("GET", "/healthz")?.status == 200)
            // A connection that closes makes room.
            open.removeFirst()
            let room = try await eventually(within: 10) {
                let again = try await RawConnection(to: peerPort)
                return (try? await again.request("GET", "/healthz"))??.status == 200
            }
            #expect(room)
            withExtendedLifetime(open) {}
        }
    }

    @Test func connectionsInAllAreCapped() async throws {
        try await withPeer(configure: { $0.connectionLimits.maxConnections = 3 }) { peerPort, _, _, _ in
            var open: [RawConnection] = []
            for index in 0..<3 {
                let connection = try await RawConnection(to: peerPort, from: "127.0.0.\(index + 1)")
                #expect(try await connection.request("GET", "/healthz")?.status == 200)
                open.append(connection)
            }
            let fourth = try await RawConnection(to: peerPort, from: "127.0.0.9")
            #expect((try? await fourth.request("GET", "/healthz")) == nil)
            withExtendedLifetime(open) {}
        }
    }

    // MARK: Origins with several addresses

    @Test func thePeerTriesEveryResolvedAddressOfTheOrigin() async throws {
        // `multi.test` resolves to a dead address first (nothing listens on 127.0.0.9), then
        // to the origin's.
        let resolver = HostResolver { host in
            switch host {
            case "multi.test": [IPAddress("127.0.0.9")!, IPAddress("127.0.0.1")!]
            case "mixed.test": [IPAddress("127.0.0.1")!, IPAddress("10.1.2.3")!]
            case "internal.test": [IPAddress("10.1.2.3")!]
            default: try await URLPolicy.resolve(host)
            }
        }
        try await withPeer(resolver: resolver) { peerPort, originPort, origin, client in
            let (status, body) = try await fetch(client, peerPort: peerPort, "http://multi.test:\(originPort)/files/a.bin")
            #expect(status == 206, "\(body)")
            #expect(body == String(buffer: origin.content.bytes(ByteRange(first: 0, last: 99))))
            // Every address is checked, not only the one connected to.
            let (mixed, mixedText) = try await fetch(client, peerPort: peerPort, "http://mixed.test:\(originPort)/files/a.bin")
            #expect(mixed == 403, "\(mixedText)")
            // The refusal does not say what the name resolves to (no DNS oracle); the peer's
            // log does.
            let (refused, text) = try await fetch(client, peerPort: peerPort, "http://internal.test:\(originPort)/files/a.bin")
            #expect(refused == 403)
            #expect(text.contains("forbidden-address"))
            #expect(!text.contains("10.1.2.3") && !text.contains("10.0.0.0/8") && !text.contains("private"), "\(text)")
            #expect(mixedText.contains("forbidden-address") && !mixedText.contains("10.1.2.3"), "\(mixedText)")
        }
    }

    @Test func theCheckedAddressIsWhatTheRequestGoesTo() async throws {
        let resolver = HostResolver { _ in [IPAddress("2606:4700::1111")!, IPAddress("::ffff:8.8.8.8")!, IPAddress("8.8.4.4")!] }
        let policy = URLPolicy(addresses: AddressPolicy(), resolver: resolver)
        let pinned = try await policy.check("http://name.example:8080/a/b?c=d")
        // Mapped addresses are used as IPv4; each pinned URL carries an address, never the name.
        #expect(pinned.addresses.map(\.description) == ["2606:4700::1111", "8.8.8.8", "8.8.4.4"])
        #expect(pinned.addressURL(for: pinned.addresses[0]) == "http://[2606:4700::1111]:8080/a/b?c=d")
        #expect(pinned.addressURL(for: pinned.addresses[1]) == "http://8.8.8.8:8080/a/b?c=d")
        #expect(pinned.hostHeader == "name.example:8080")
    }
}
