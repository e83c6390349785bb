import AsyncHTTPClient
import DDLCore
import DDLPeer
import DDLTracker
import DDLTrackerClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// A small deterministic generator (SplitMix64) so that every property run is reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A random string over `alphabet`, up to `maxLength` characters.
    mutating func string(from alphabet: [Character], maxLength: Int) -> String {
        let length = Int.random(in: 0...maxLength, using: &self)
        return String((0..<length).map { _ in alphabet.randomElement(using: &self)! })
    }
}

/// Property-based tests: random and malformed inputs against the parsers, the address
/// policy and the tracker API. Seeds are fixed, so failures reproduce.
@Suite struct PropertyTests {
    static let rangeAlphabet = Array("bytes=-,0123456789 */+abx\t")

    @Test(arguments: [1, 2, 3] as [UInt64])
    func rangeParserNeverAcceptsGarbageAndRoundTrips(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<20_000 {
            let text = rng.string(from: Self.rangeAlphabet, maxLength: 24)
            let length: Int64? = Bool.random(using: &rng) ? Int64.random(in: 1...1_000_000, using: &rng) : nil
            guard let range = ByteRange.parseRangeHeader(text, length: length) else { continue }
            #expect(range.first >= 0 && range.first <= range.last)
            if let length { #expect(range.last < length) }
            #expect(text.hasPrefix("bytes="))
            #expect(!text.contains(","))
            // What we print, we parse back to the same range.
            #expect(ByteRange.parseRangeHeader(range.rangeHeader) == range)
        }
    }

    @Test(arguments: [4, 5] as [UInt64])
    func wellFormedRangesAlwaysParse(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<20_000 {
            let a = Int64.random(in: 0...Int64(1) << 50, using: &rng)
            let b = a + Int64.random(in: 0...Int64(1) << 40, using: &rng)
            #expect(ByteRange.parseRangeHeader("bytes=\(a)-\(b)") == ByteRange(first: a, last: b))
            let total = b + Int64.random(in: 1...1000, using: &rng)
            let parsed = ContentRange("bytes \(a)-\(b)/\(total)")
            #expect(parsed == ContentRange(range: ByteRange(first: a, last: b), total: total))
            #expect(ContentRange(ByteRange(first: a, last: b).contentRangeHeader(total: total)) == parsed)
        }
    }

    @Test(arguments: [6, 7] as [UInt64])
    func contentRangeParserNeverAcceptsInconsistentValues(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<20_000 {
            let text = rng.string(from: Self.rangeAlphabet + ["/"], maxLength: 24)
            guard let parsed = ContentRange(text) else { continue }
            #expect(parsed.range != nil || parsed.total != nil)
            if let range = parsed.range {
                #expect(range.first <= range.last)
                if let total = parsed.total { #expect(range.last < total) }
            }
        }
    }

    @Test(arguments: [8, 9] as [UInt64])
    func addressPolicyRefusesEveryLoopbackAndPrivateAddress(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let policy = AddressPolicy()
        for _ in 0..<20_000 {
            let v = UInt32.random(in: 0...UInt32.max, using: &rng)
            let address = IPAddress.v4(v)
            let refused = policy.check(address) != nil
            let top = v >> 24
            let blockedByRule = top == 127 || top == 10 || top == 0 || (v >> 20) == (172 << 4 | 1) || (v >> 16) == (192 << 8 | 168)
                || (v >> 16) == (169 << 8 | 254) || (v >> 22) == (100 << 2 | 1) || top >= 224 || (v >> 17) == (198 << 7 | 9)
            if blockedByRule { #expect(refused, "\(address) must be refused") }
            // The IPv4-mapped IPv6 form gets the same answer as the IPv4 address.
            let mapped = IPAddress.v6(UInt128(0xFFFF) << 32 | UInt128(v))
            #expect((policy.check(mapped) != nil) == refused, "\(mapped) vs \(address)")
        }
    }

    @Test(arguments: [10] as [UInt64])
    func cidrParserHandlesGarbage(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let alphabet = Array("0123456789abcdef.:/[] x-")
        for _ in 0..<20_000 {
            let text = rng.string(from: alphabet, maxLength: 30)
            if let network = IPNetwork(text) {
                #expect(network.contains(network.address))
                #expect(network.prefixLength >= 0 && network.prefixLength <= network.address.bitWidth)
            }
        }
    }

    @Test func trackerAPISurvivesRandomAndMalformedRequests() async throws {
        let bound = Eventually<Int>()
        let services = Tracker.makeServices(configuration: loopbackTrackerConfiguration(port: 0), logger: testLogger) {
            await bound.set($0)
        }
        try await withServices(services) {
            let url = "http://127.0.0.1:\(try await bound.wait())"
            try await withHTTPClient { client in
                var rng = SeededGenerator(seed: 11)
                let pieces = [#"{"#, #"}"#, #""port""#, #":"#, "6000", "-1", "1e9", #""host""#, #""10.0.0.1""#, #""a b""#, "null", ",",
                              "[", "]", #""name""#, #""\u0000""#, "true", "99999999999999999999", #""""#]
                let methods: [HTTPMethod] = [.POST, .PUT, .DELETE, .GET, .PATCH]
                for _ in 0..<300 {
                    let body = (0..<Int.random(in: 0...12, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
                    let method = methods.randomElement(using: &rng)!
                    let path = ["/v1/peers", "/v1/peers/" + rng.string(from: Array("abc0123%/."), maxLength: 12), "/v1/peer", "/"].randomElement(using: &rng)!
                    var request = HTTPClientRequest(url: url + path)
                    request.method = method
                    if !body.isEmpty { request.body = .bytes(ByteBuffer(string: body)) }
                    let response = try await client.execute(request, timeout: .seconds(5))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    #expect(response.status.code < 500, "\(method) \(path) \(body) gave \(response.status)")
                }
                // Still healthy and consistent.
                let tracker = TrackerClient(baseURL: url, httpClient: client)
                for peer in try await tracker.peers() {
                    #expect((1...65535).contains(peer.port))
                    #expect(HostValidation.isValidHost(peer.host))
                }
            }
        }
    }
}
