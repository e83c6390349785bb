import AsyncHTTPClient
import DDLApp
import DDLClient
import DDLCore
import DDLPeer
import DDLServerSupport
import DDLTracker
import DDLTrackerClient
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// Members of the swarm (they hold the token) that try to misuse it: register peers at
/// addresses that lead clients into their own machine or the cloud's metadata service, flood
/// the tracker to hide honest peers, answer clients with redirects, and the token in logs.
@Suite struct HostileMemberTests {
    static let token = "hostile-member-tests-token-0123456789abcdef"

    /// A tracker (settings from `configure`) and its port while `body` runs.
    func withTracker(registry: PeerRegistry? = nil, configure: (inout TrackerConfiguration) -> Void = { _ in },
                     _ body: @Sendable @escaping (Int) async throws -> Void) async throws {
        var configuration = TrackerConfiguration(host: "127.0.0.1", port: 0)
        configure(&configuration)
        let bound = Eventually<Int>()
        try await withServices(Tracker.makeServices(configuration: configuration, registry: registry, logger: testLogger) { await bound.set($0) }) {
            try await body(try await bound.wait())
        }
    }

    func register(_ port: Int, from source: String = "127.0.0.1", _ body: String) async throws -> (status: Int, body: String) {
        let connection = try await RawConnection(to: port, from: source)
        return try #require(try await connection.request("POST", "/v1/peers", body: body))
    }

    // MARK: The tracker's address policy

    @Test func theTrackerRefusesPeerAddressesOutsideTheLANPolicy() async throws {
        try await withTracker { port in
            for host in ["127.0.0.1", "127.9.9.9", "169.254.169.254", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "fe80::1",
                         "::ffff:127.0.0.1", "64:ff9b::7f00:1", "192.0.2.1", "2001:db8::1", "ff02::1"] {
                let (status, text) = try await register(port, #"{"port": 6000, "host": "\#(host)"}"#)
                #expect(status == 403, "\(host): \(status) \(text)")
                #expect(text.contains("forbidden-address") && text.contains("--allow-peer-network"), "\(host): \(text)")
            }
            // Names and odd spellings: only IP addresses are listed.
            for host in ["localhost", "0x7f000001", "2130706433", "example.com"] {
                let (status, text) = try await register(port, #"{"port": 6000, "host": "\#(host)"}"#)
                #expect(status == 400, "\(host): \(status) \(text)")
            }
            // No host: the source address (127.0.0.1) is checked like any other.
            #expect(try await register(port, #"{"port": 6000}"#).status == 403)
            // LAN and internet unicast addresses are fine.
            for host in ["10.0.0.5", "192.168.1.20", "172.16.0.9", "100.64.1.1", "198.18.0.10", "fd00::5", "2606:4700::1111", "8.8.8.8"] {
                let (status, text) = try await register(port, #"{"port": 6000, "host": "\#(host)"}"#)
                #expect(status == 201, "\(host): \(status) \(text)")
            }
        }
        // A swarm on one machine opts in to loopback, and to nothing else.
        try await withTracker(configure: { $0.allowPeerNetworks = [IPNetwork("127.0.0.0/8")!] }) { port async throws in
            #expect(try await register(port, #"{"port": 6000}"#).status == 201)
            #expect(try await register(port, #"{"port": 6000, "host": "127.0.0.7"}"#).status == 201)
            #expect(try await register(port, #"{"port": 6000, "host": "169.254.169.254"}"#).status == 403)
            #expect(try await register(port, #"{"port": 6000, "host": "::1"}"#).status == 403)
            // An IPv4-mapped address is listed as the IPv4 address it is.
            #expect(try await register(port, #"{"port": 6001, "host": "::ffff:127.0.0.8"}"#).status == 201)
            try await withHTTPClient { client in
                let hosts = try await TrackerClient(baseURL: "http://127.0.0.1:\(port)", httpClient: client).peers().map(\.host)
                #expect(hosts.contains("127.0.0.8") && !hosts.contains { $0.contains("::ffff") }, "\(hosts)")
            }
        }
    }

    @Test func registrationsPerSourceAddressAreCapped() async throws {
        try await withTracker(configure: { $0.maxPeersPerAddress = 5 }) { port in
            var ids: [String] = []
            for index in 1...5 {
                let (status, text) = try await register(port, #"{"port": 6000, "host": "10.0.0.\#(index)"}"#)
                #expect(status == 201, "\(index): \(text)")
                ids.append(try JSONDecoder().decode(TrackerAPI.RegisterResponse.self, from: Data(text.utf8)).id)
            }
            let (refused, text) = try await register(port, #"{"port": 6000, "host": "10.0.0.6"}"#)
            #expect(refused == 429, "\(text)")
            #expect(text.contains("max_peers_per_address"))
            // Registering an endpoint again is a refresh, not a new peer.
            #expect(try await register(port, #"{"port": 6000, "host": "10.0.0.1"}"#).status == 201)
            // Another source has its own allowance.
            #expect(try await register(port, from: "127.0.0.2", #"{"port": 6000, "host": "10.0.1.1"}"#).status == 201)
            // A peer that leaves makes room.
            let connection = try await RawConnection(to: port)
            #expect(try await connection.request("DELETE", "/v1/peers/" + ids[0])?.status == 204)
            #expect(try await register(port, #"{"port": 6000, "host": "10.0.0.6"}"#).status == 201)
        }
    }

    @Test func aMemberCannotKeepAliveOrRemoveAnotherAddressesPeer() async throws {
        try await withTracker { port in
            // The honest peer registers from 127.0.0.2; its id is in every list answer.
            let (status, text) = try await register(port, from: "127.0.0.2", #"{"port": 6000, "host": "10.0.0.9"}"#)
            #expect(status == 201, "\(text)")
            let id = try JSONDecoder().decode(TrackerAPI.RegisterResponse.self, from: Data(text.utf8)).id
            // Another member (127.0.0.3) with the token cannot remove it, nor keep it listed.
            let other = try await RawConnection(to: port, from: "127.0.0.3")
            let removal = try await other.request("DELETE", "/v1/peers/" + id)
            #expect(removal?.status == 403 && removal?.body.contains("not-owner") == true, "\(String(describing: removal))")
            let other2 = try await RawConnection(to: port, from: "127.0.0.3")
            #expect(try await other2.request("PUT", "/v1/peers/" + id)?.status == 403)
            let listed = try await withHTTPClient { client in try await TrackerClient(baseURL: "http://127.0.0.1:\(port)", httpClient: client).peers() }
            #expect(listed.map(\.id) == [id])
            // Its own address can.
            let owner = try await RawConnection(to: port, from: "127.0.0.2")
            #expect(try await owner.request("PUT", "/v1/peers/" + id)?.status == 204)
            let owner2 = try await RawConnection(to: port, from: "127.0.0.2")
            #expect(try await owner2.request("DELETE", "/v1/peers/" + id)?.status == 204)
        }
    }

    @Test func aFloodFromOneSourceDoesNotHideAnHonestPeer() async throws {
        // 1500 fake peers from one address, all sorting before the honest one by host.
        let registry = PeerRegistry(capacityPerSource: 2000)
        for index in 0..<1500 {
            let host = "10.1.\(index / 250).\(index % 250 + 1)"
            #expect(await registry.register(host: host, port: 6000, name: "fake", source: "127.0.0.1") != .full)
        }
        try await withTracker(registry: registry, configure: { $0.allowPeerNetworks = [IPNetwork("127.0.0.0/8")!] }) { port in
            // The honest peer registers over HTTP from its own address (127.0.0.2).
            let (status, text) = try await register(port, from: "127.0.0.2", #"{"port": 6001, "name": "honest"}"#)
            #expect(status == 201, "\(text)")
            try await withHTTPClient { client in
                let tracker = TrackerClient(baseURL: "http://127.0.0.1:\(port)", httpClient: client)
                for _ in 0..<5 {  // whatever order the sources are taken in
                    let peers = try await tracker.peers()
                    #expect(peers.count == 1000)
                    #expect(peers.contains { $0.host == "127.0.0.2" && $0.port == 6001 }, "the honest peer is hidden by the flood")
                }
            }
        }
        // The list alternates between sources: with 3 sources, each gets its share.
        let mixed = PeerRegistry(capacityPerSource: 2000)
        for index in 0..<1200 { _ = await mixed.register(host: "10.2.\(index / 250).\(index % 250 + 1)", port: 1, name: nil, source: "10.9.9.1") }
        for index in 0..<10 { _ = await mixed.register(host: "10.3.0.\(index + 1)", port: 1, name: nil, source: "10.9.9.2") }
        _ = await mixed.register(host: "10.4.0.1", port: 1, name: nil, source: "10.9.9.3")
        var generator = SeededGenerator(seed: 3)
        let listed = await mixed.list(limit: 100, using: &generator)
        #expect(listed.count == 100)
        #expect(listed.filter { $0.host.hasPrefix("10.3.") }.count == 10)
        #expect(listed.filter { $0.host == "10.4.0.1" }.count == 1)
    }

    // MARK: Clients

    /// Counts requests and answers each `/v1/fetch` with what `answer` returns.
    final class CountingServer: Sendable {
        let requests = Atomic<Int>(0)

        func makeApplication(host: String, answer: @escaping @Sendable () -> Response, onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
            let router = Router(context: DDLRequestContext.self)
            router.get("/**") { [self] _, _ -> Response in
                requests.add(1, ordering: .relaxed)
                return answer()
            }
            return Application(router: router, configuration: .init(address: .hostname(host, port: 0)),
                               onServerRunning: { await onListening($0.localAddress?.port ?? 0) }, logger: testLogger)
        }
    }

    func swarmOptions() -> LocalSwarm.Options {
        var options = LocalSwarm.Options()
        options.originSize = 1 << 20
        options.peerHosts = []
        return options
    }

    @Test func aClientFollowsNoRedirectFromAPeer() async throws {
        try await LocalSwarm.run(swarmOptions()) { swarm in
            let internalAdmin = CountingServer()
            let fakePeer = CountingServer()
            let internalPort = Eventually<Int>()
            let peerPort = Eventually<Int>()
            let redirect = internalPort
            let services: [any Service] = [
                internalAdmin.makeApplication(host: "127.0.0.3", answer: { Response(status: .ok) }) { await internalPort.set($0) },
                fakePeer.makeApplication(host: "127.0.0.2", answer: {
                    // The port is known before any client asks.
                    var headers = HTTPFields()
                    headers[.location] = "http://127.0.0.3:\(RedirectTarget.port.load(ordering: .relaxed))/internal-admin"
                    return Response(status: .found, headers: headers)
                }) { await peerPort.set($0) },
            ]
            try await withServices(services) {
                RedirectTarget.port.store(try await redirect.wait(), ordering: .relaxed)
                try await withHTTPClient { client in
                    _ = try await TrackerClient(baseURL: swarm.trackerURL, httpClient: client, token: swarm.token)
                        .register(.init(port: try await peerPort.wait(), host: "127.0.0.2", name: "redirector"))
                }
                var configuration = ClientConfiguration(url: swarm.fileURL())
                configuration.trackerURLs = [swarm.trackerURL]
                configuration.token = swarm.token
                configuration.outputFile = try makeTemporaryDirectory() + "/r.bin"
                configuration.useSelf = false  // every piece goes to the redirecting peer
                do throws(DownloadError) {
                    _ = try await download(configuration)
                    Issue.record("the download cannot succeed through a peer that only redirects")
                } catch {}
                #expect(fakePeer.requests.load(ordering: .relaxed) >= 1)
                #expect(internalAdmin.requests.load(ordering: .relaxed) == 0, "the client followed the peer's redirect")
            }
        }
    }

    @Test func aClientSkipsPeersOutsideTheAddressPolicy() async throws {
        try await LocalSwarm.run(swarmOptions()) { swarm in
            let listed = CountingServer()
            let peerPort = Eventually<Int>()
            let busy: @Sendable () -> Response = { Response(status: .serviceUnavailable) }
            try await withServices([listed.makeApplication(host: "127.0.0.2", answer: busy) { await peerPort.set($0) }]) {
                try await withHTTPClient { client in
                    _ = try await TrackerClient(baseURL: swarm.trackerURL, httpClient: client, token: swarm.token)
                        .register(.init(port: try await peerPort.wait(), host: "127.0.0.2", name: "loopback"))
                }
                var configuration = ClientConfiguration(url: swarm.fileURL())
                configuration.trackerURLs = [swarm.trackerURL]
                configuration.token = swarm.token
                configuration.outputFile = try makeTemporaryDirectory() + "/p.bin"
                // The default policy: a peer on loopback is refused, and never contacted.
                let observer = RecordingObserver()
                let summary = try await download(configuration, observer: observer, peerNetworks: [])
                #expect(summary.sha256 == swarm.origin!.content.sha256())
                #expect(listed.requests.load(ordering: .relaxed) == 0)
                #expect(observer.notices.contains { $0.contains("outside the address policy") && $0.contains("--allow-peer-network") }, "\(observer.notices)")
                // Opted in (as the tests' swarms do), the same peer is asked (the only source:
                // it cannot serve, so the download fails, after asking it).
                configuration.overwrite = true
                configuration.useSelf = false
                // Registered again: on a busy machine the first download can outlast the
                // registration's TTL (this fake peer sends no heartbeats).
                try await withHTTPClient { client in
                    _ = try await TrackerClient(baseURL: swarm.trackerURL, httpClient: client, token: swarm.token)
                        .register(.init(port: try await peerPort.wait(), host: "127.0.0.2", name: "loopback"))
                }
                let control = RecordingObserver()
                var failure = ""
                do throws(DownloadError) {
                    _ = try await download(configuration, observer: control)
                    Issue.record("the download cannot succeed through a peer that only answers 503")
                } catch {
                    failure = error.description
                }
                let peerID = "peer 127.0.0.2:\(try await peerPort.wait())"
                #expect(control.start?.sources == [peerID], "not started with the peer as its source: \(failure)")
                #expect(listed.requests.load(ordering: .relaxed) >= 1, "\(failure)")
            }
        }
    }

    // MARK: Secrets in logs

    @Test func theTokenAppearsInNoLogLineAtTraceLevel() async throws {
        let lines = CapturedLogs()
        let logger = lines.traceLogger
        var options = LocalSwarm.Options()
        options.originSize = 2 << 20
        options.peerHosts = ["127.0.0.1", "127.0.0.2"]
        options.token = Self.token
        try await LocalSwarm.run(options, logger: logger) { swarm in
            var configuration = ClientConfiguration(url: swarm.fileURL())
            configuration.trackerURLs = [swarm.trackerURL]
            configuration.token = swarm.token
            configuration.allowPeerNetworks = testPeerNetworks
            configuration.outputFile = try makeTemporaryDirectory() + "/t.bin"
            configuration.pieceSize = 256 << 10
            // As `ddl get` runs it: a DownloadService in a ServiceGroup that logs its services.
            let client = Downloader.makeHTTPClient(configuration: configuration)
            let service = DownloadService(Downloader(configuration: configuration, httpClient: client, logger: logger))
            let group = ServiceGroup(configuration: .init(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)], logger: logger))
            try await group.run()
            try await client.shutdown()
            guard case .success = service.result else {
                Issue.record("the download failed: \(String(describing: service.result))")
                return
            }
        }
        let all = lines.all
        #expect(all.count > 50, "too few log lines to say anything: \(all.count)")
        #expect(all.contains { $0.contains("service") }, "service-lifecycle's lines are missing")
        let leaks = all.filter { $0.contains(Self.token) }
        #expect(leaks.isEmpty, "the token is in \(leaks.count) log lines, e.g. \(leaks.first ?? "")")
        // Nor in the descriptions of what holds it.
        var peer = PeerConfiguration()
        peer.token = Self.token
        var tracker = TrackerConfiguration()
        tracker.token = Self.token
        var client = ClientConfiguration(url: "http://example.org/a")
        client.token = Self.token
        for text in [String(describing: peer), String(reflecting: peer), String(describing: tracker), String(reflecting: tracker),
                     String(describing: client), String(reflecting: client), "\([peer])", "\(Optional(tracker) as Any)"] {
            #expect(!text.contains(Self.token), "\(text)")
        }
    }

    // MARK: Names printed on a terminal

    @Test func peerNamesArePrintedWithTheirControlCharactersEscaped() {
        let hostile = TrackerAPI.Peer(id: "abc", host: "10.0.0.1", port: 6000, name: "\u{1B}]0;owned\u{7}\u{1B}[2J\u{202E}exe.txt", lastSeen: "now")
        let table = Roles.peerTable([hostile])
        #expect(!table.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{7}" || $0 == "\u{202E}" })
        #expect(table.contains("\\u{1B}]0;owned\\u{7}\\u{1B}[2J\\u{202E}exe.txt"))
    }

    @Test func logLinesCarryNoEscapeSequenceFromTheNetwork() throws {
        let lines = CapturedLogs()
        var logger = Logger(label: "ddl.escape") { label in
            EscapingLogHandler(wrapping: CapturingLogHandler(label: label, sink: lines))
        }
        logger.logLevel = .trace
        let hostile = "http://example.org/\u{1B}[2J\u{1B}]0;owned\u{7}\u{202E}fdp.exe"
        logger.info("origin refused \(hostile)", metadata: [
            "url": "\(hostile)", "list": .array(["\(hostile)"]), "nested": .dictionary(["u": "\(hostile)"]),
            "convertible": .stringConvertible(hostile),
        ])
        let line = try #require(lines.all.first)
        #expect(!line.unicodeScalars.contains { TerminalText.needsEscape($0) }, "\(line)")
        #expect(line.contains("\\u{1B}[2J"))
    }
}

/// Where the redirecting fake peer sends clients (set once the target listens).
enum RedirectTarget {
    static let port = Atomic<Int>(0)
}

/// Log lines a test captured.
final class CapturedLogs: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }

    /// A logger at `trace` whose every record lands here.
    var traceLogger: Logger {
        var logger = Logger(label: "ddl.capture") { label in CapturingLogHandler(label: label, sink: self) }
        logger.logLevel = .trace
        return logger
    }
}

/// Renders every log record (label, level, message, all metadata, source) into
/// ``CapturedLogs``.
struct CapturingLogHandler: LogHandler {
    let label: String
    let sink: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        sink.append("\(label) \(event.level) \(event.message) \(all.map { "\($0)=\($1)" }.joined(separator: " ")) \(event.source)")
    }
}
