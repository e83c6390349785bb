import AsyncHTTPClient
import DDLApp
import DDLClient
import DDLCore
import DDLServerSupport
import DDLTLS
import DDLTrackerClient
import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing
import X509

/// TLS on every link of the swarm: pinned certificates, and the token sent to nobody whose
/// certificate does not match.
@Suite struct TLSTests {
    /// A TLS server presenting `identity` that counts every HTTP request it receives (an
    /// impostor: whatever it is asked, it answers 200 with nothing).
    final class CountingServer: Sendable {
        let requests = Mutex(0)
        let authorizations = Mutex<[String]>([])
        let identity: TLSIdentity

        init(identity: TLSIdentity) { self.identity = identity }

        func application(onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
            let router = Router(context: DDLRequestContext.self)
            router.get("**") { request, _ -> HTTPResponse.Status in
                self.requests.withLock { $0 += 1 }
                if let value = request.headers[.authorization] { self.authorizations.withLock { $0.append(value) } }
                return .ok
            }
            return Application(
                router: router,
                server: ServerHardening.server(limitedBy: ConnectionCounter(limits: ConnectionLimits()), tls: identity),
                configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "impostor"),
                onServerRunning: { await onListening($0.localAddress?.port ?? 0) },
                logger: testLogger)
        }
    }

    func swarmOptions(size: Int64, peers: [String]) -> LocalSwarm.Options {
        var options = LocalSwarm.Options()
        options.originSize = size
        options.peerHosts = peers
        options.tls = true
        return options
    }

    @Test func aSwarmOverTLSDeliversAByteExactFileThroughItsPinnedPeers() async throws {
        try await LocalSwarm.run(swarmOptions(size: 6 << 20 + 77, peers: ["127.0.0.2", "127.0.0.3"])) { swarm in
            #expect(swarm.trackerURL.hasPrefix("https://"))
            // Every peer registered its own certificate's fingerprint.
            let listed = try await withHTTPClient { client in try await swarm.trackerClient(httpClient: client).peers() }
            #expect(listed.count == 2 && Set(listed.compactMap(\.fingerprint)).count == 2)
            var configuration = ClientConfiguration(url: swarm.fileURL("tls.bin"))
            configuration.trackerURLs = [swarm.trackerURL]
            configuration.trackerFingerprints = swarm.trackerFingerprints
            configuration.token = swarm.token
            configuration.outputFile = try makeTemporaryDirectory() + "/tls.bin"
            configuration.useSelf = false
            configuration.pieceSize = 512 << 10
            let summary = try await download(configuration)
            #expect(summary.sha256 == swarm.origin!.content.sha256())
            #expect(summary.sources.filter { $0.source.hasPrefix("peer 127.0.0.") && $0.bytes > 0 }.count == 2)
            for stats in swarm.peerStats { #expect(stats.bytesServed > 0) }
        }
    }

    @Test func aPeerWhoseCertificateIsNotTheListedOneIsNeverSentARequest() async throws {
        try await LocalSwarm.run(swarmOptions(size: 3 << 20, peers: ["127.0.0.2"])) { swarm in
            // An impostor at an address the tracker lists with another key's fingerprint
            // (say, a machine that took over a peer's address).
            let impostor = CountingServer(identity: try TLSIdentity.ephemeral())
            let listedFingerprint = try TLSIdentity.ephemeral().fingerprint
            let port = Eventually<Int>()
            try await withServices([impostor.application { await port.set($0) }]) {
                try await withHTTPClient { client in
                    _ = try await swarm.trackerClient(httpClient: client).register(
                        .init(port: try await port.wait(), host: "127.0.0.1", name: "impostor", fingerprint: listedFingerprint))
                }
                var configuration = ClientConfiguration(url: swarm.fileURL("i.bin"))
                configuration.trackerURLs = [swarm.trackerURL]
                configuration.trackerFingerprints = swarm.trackerFingerprints
                configuration.token = swarm.token
                configuration.outputFile = try makeTemporaryDirectory() + "/i.bin"
                configuration.pieceSize = 256 << 10
                let observer = RecordingObserver()
                let summary = try await download(configuration, observer: observer)
                #expect(summary.sha256 == swarm.origin!.content.sha256())
                #expect(impostor.requests.withLock { $0 } == 0)
                #expect(observer.notices.contains { $0.contains("left out 1 peer") && $0.contains("presented a certificate with fingerprint") })
                let impostorPort = try await port.wait()
                #expect(!summary.sources.contains { $0.source.contains("127.0.0.1:\(impostorPort)") })
            }
        }
    }

    @Test func aTrackerWhoseCertificateIsNotThePinnedOneIsNeverSentTheToken() async throws {
        let impostor = CountingServer(identity: try TLSIdentity.ephemeral())
        let pinned = try TLSIdentity.ephemeral().fingerprint
        let port = Eventually<Int>()
        try await withServices([impostor.application { await port.set($0) }]) {
            var settings = ClientConfiguration(url: "http://127.0.0.1:1/files/x")
            settings.trackerURLs = ["https://127.0.0.1:\(try await port.wait())"]
            settings.trackerFingerprints = [pinned]
            settings.token = "secret-token-for-the-real-tracker"
            let configuration = settings
            try await withHTTPClient { client in
                await #expect(throws: (any Error).self) {
                    _ = try await configuration.trackerSet(httpClient: client, pins: PinnedCertificates()).peers()
                }
                // And with the same certificate presented, the same client is accepted: the
                // refusal above is the pin's doing.
                let accepted = TrackerClient(
                    baseURL: configuration.trackerURLs[0], httpClient: client, token: nil, fingerprints: [impostor.identity.fingerprint])
                _ = try? await accepted.peers()
            }
            #expect(impostor.requests.withLock { $0 } == 1)
            #expect(impostor.authorizations.withLock { $0 }.isEmpty)
        }
    }

    @Test func aTLSTrackerRefusesPeersWithoutAFingerprintAndClientsLeavePlainPeersOut() async throws {
        _ = try await LocalSwarm.run(swarmOptions(size: 1 << 20, peers: [])) { swarm in
            try await withHTTPClient { client in
                await #expect {
                    _ = try await swarm.trackerClient(httpClient: client).register(.init(port: 6000, host: "127.0.0.1", name: "plain"))
                } throws: { error in
                    String(describing: error).contains("HTTP 400")
                }
            }
        }
        // A swarm without TLS: its peers are used only with plainHTTP.
        var plain = LocalSwarm.Options()
        plain.originSize = 2 << 20
        plain.peerHosts = ["127.0.0.2"]
        _ = try await LocalSwarm.run(plain) { swarm in
            var configuration = ClientConfiguration(url: swarm.fileURL("p.bin"))
            configuration.trackerURLs = [swarm.trackerURL]
            configuration.token = swarm.token
            configuration.allowPeerNetworks = testPeerNetworks
            configuration.outputFile = try makeTemporaryDirectory() + "/p.bin"
            configuration.progress = .quiet
            let observer = RecordingObserver()
            let client = Downloader.makeHTTPClient(configuration: configuration)
            do {
                let summary = try await Downloader(configuration: configuration, httpClient: client, logger: testLogger, observer: observer).run()
                #expect(summary.sha256 == swarm.origin!.content.sha256())
                #expect(swarm.peerStats[0].bytesServed == 0)
                #expect(observer.notices.contains { $0.contains("serves plain HTTP") })

                configuration.plainHTTP = true
                configuration.overwrite = true
                let used = try await Downloader(configuration: configuration, httpClient: client, logger: testLogger, observer: RecordingObserver()).run()
                #expect(used.sources.contains { $0.source.hasPrefix("peer 127.0.0.2") && $0.bytes > 0 })
            } catch {
                Issue.record("\(error)")
            }
            try await client.shutdown()
        }
    }
}

/// The state directory's TLS identity.
@Suite struct TLSIdentityTests {
    @Test func theIdentityIsKeptAcrossRestartsAndRenewedWithTheSameKey() throws {
        let path = try makeTemporaryDirectory() + "/state/tls/server.pem"
        let first = try TLSIdentity.loadOrCreate(at: path, commonName: "ddl server")
        let again = try TLSIdentity.loadOrCreate(at: path, commonName: "ddl server")
        #expect(first.fingerprint == again.fingerprint)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let before = try String(contentsOfFile: path, encoding: .utf8)
        // Close to expiry: a new certificate, the same key, so the same fingerprint.
        let late = Date().addingTimeInterval(TLSIdentity.validity - TLSIdentity.renewalMargin / 2)
        let renewed = try TLSIdentity.loadOrCreate(at: path, commonName: "ddl server", now: late)
        #expect(renewed.fingerprint == first.fingerprint)
        #expect(try String(contentsOfFile: path, encoding: .utf8) != before)
        // Another identity has another fingerprint.
        #expect(try TLSIdentity.ephemeral().fingerprint != first.fingerprint)
        // A DNS name tools without key pinning can check (Prometheus' server_name).
        let certificate = try Certificate(derEncoded: try renewed.certificate.toDERBytes())
        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(Array(names) == [.dnsName("ddl-server")])
    }

    @Test func aKeyFileOthersCanReadIsRefused() throws {
        let path = try makeTemporaryDirectory() + "/tls/tracker.pem"
        _ = try TLSIdentity.loadOrCreate(at: path, commonName: "ddl tracker")
        chmod(path, 0o644)
        #expect { try TLSIdentity.loadOrCreate(at: path, commonName: "ddl tracker") } throws: { error in
            String(describing: error).contains("chmod 600")
        }
    }

    @Test func processesStartingTogetherAgreeOnOneIdentity() async throws {
        let path = try makeTemporaryDirectory() + "/tls/server.pem"
        let fingerprints = try await withThrowingTaskGroup(of: CertificateFingerprint.self) { group in
            for _ in 0..<8 { group.addTask { try TLSIdentity.loadOrCreate(at: path, commonName: "ddl server").fingerprint } }
            var all: Set<CertificateFingerprint> = []
            for try await fingerprint in group { all.insert(fingerprint) }
            return all
        }
        #expect(fingerprints.count == 1)
        #expect(try TLSIdentity.loadOrCreate(at: path, commonName: "ddl server").fingerprint == fingerprints.first)
    }

    @Test func fingerprintsParseAndPrint() throws {
        let hex = "0123456789abcdef" + String(repeating: "00", count: 24)
        let parsed = try #require(CertificateFingerprint("sha256:" + hex.uppercased()))
        #expect(parsed.description == "sha256:" + hex)
        #expect(CertificateFingerprint("  sha256:" + hex + "\n") == parsed)
        let colons = stride(from: 0, to: 64, by: 2).map { String(Array(hex)[$0..<$0 + 2]) }.joined(separator: ":")
        #expect(CertificateFingerprint("SHA256:" + colons) == parsed)
        for bad in ["", "sha256:", "sha1:" + hex, "sha256:" + hex.dropLast(), "sha256:" + hex + "00", "sha256:" + hex.dropLast() + "g", hex] {
            #expect(CertificateFingerprint(bad) == nil, "\(bad)")
        }
        // Base64 of the digest, as browsers show a public key's SHA-256.
        let zero = try #require(CertificateFingerprint(digest: Array(repeating: 0, count: 32)))
        #expect(zero.base64 == "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        let json = try JSONEncoder().encode(parsed)
        #expect(String(decoding: json, as: UTF8.self) == "\"sha256:\(hex)\"")
        #expect(try JSONDecoder().decode(CertificateFingerprint.self, from: json) == parsed)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(CertificateFingerprint.self, from: Data("\"sha256:zz\"".utf8)) }
    }
}
