import DDLApp
import DDLClient
import DDLCore
import DDLTestOrigin
import Foundation
import Testing

/// `ddl get URL MIRROR…`: mirrors are probed, checked and serve pieces like any source.
@Suite struct MirrorTests {
    /// Runs test origins (one per entry) and passes their file URLs.
    func withOrigins(_ origins: [TestOrigin], _ body: @Sendable @escaping ([String]) async throws -> Void) async throws {
        let ports = origins.map { _ in Eventually<Int>() }
        let services = zip(origins, ports).map { origin, port in origin.makeApplication(logger: testLogger) { await port.set($0) } }
        try await withServices(services) {
            var urls: [String] = []
            for port in ports { urls.append("http://127.0.0.1:\(try await port.wait())/files/m.bin") }
            try await body(urls)
        }
    }

    func configuration(_ urls: [String], _ name: String) throws -> ClientConfiguration {
        var configuration = ClientConfiguration(url: urls[0])
        configuration.mirrors = Array(urls.dropFirst())
        configuration.outputFile = try makeTemporaryDirectory() + "/" + name
        configuration.pieceSize = 256 << 10
        configuration.connections = 2
        return configuration
    }

    @Test func piecesComeFromTheOriginAndEveryMirror() async throws {
        let size: Int64 = 8 << 20
        let origins = (0..<3).map { _ in TestOrigin(length: size) }
        // Slow origins, so that every source gets pieces whatever the machine's speed.
        for origin in origins { origin.update { $0.bytesPerSecond = 4 << 20 } }
        try await withOrigins(origins) { urls in
            let observer = RecordingObserver()
            let summary = try await download(try configuration(urls, "m.bin"), observer: observer)
            #expect(summary.sha256 == origins[0].content.sha256())
            let ids = Set(summary.sources.filter { $0.bytes > 0 }.map(\.source))
            #expect(ids.count == 3, "sources: \(summary.sources)")
            #expect(ids.contains("self"))
            for origin in origins { #expect(origin.bytesServed > 0) }
            #expect(summary.banned.isEmpty)
        }
    }

    @Test func aMirrorOfAnotherLengthOrVersionIsLeftOut() async throws {
        let size: Int64 = 2 << 20
        let other = TestOrigin(length: size + 1)
        let newer = TestOrigin(length: size)
        newer.update { $0.etag = "\"v2\"" }
        let origins = [TestOrigin(length: size), other, newer]
        try await withOrigins(origins) { urls in
            let observer = RecordingObserver()
            let summary = try await download(try configuration(urls, "l.bin"), observer: observer)
            #expect(summary.sha256 == origins[0].content.sha256())
            #expect(observer.notices.contains { $0.contains(urls[1]) && $0.contains("length") })
            #expect(observer.notices.contains { $0.contains(urls[2]) && $0.contains("ETag") })
            #expect(other.getRequests <= 1 && newer.getRequests <= 1)  // the probe at most
        }
    }

    @Test func aMirrorServingOtherBytesIsCaughtAndBanned() async throws {
        let size: Int64 = 4 << 20
        let origin = TestOrigin(length: size)
        // Same length and ETag, other bytes: only the spot checks can tell.
        let liar = TestOrigin(length: size, seed: 42)
        origin.update { $0.bytesPerSecond = 4 << 20 }
        try await withOrigins([origin, liar]) { urls in
            var configuration = try configuration(urls, "b.bin")
            configuration.verifyPeersRate = 1
            let observer = RecordingObserver()
            let summary = try await download(configuration, observer: observer)
            #expect(try sha256(ofFile: configuration.outputFile!) == origin.content.sha256())
            #expect(summary.banned.count == 1 && summary.banned[0].hasPrefix("mirror "))
            #expect(liar.bytesServed > 0)
        }
    }

    @Test func peersFetchFromMirrorsToo() async throws {
        var options = LocalSwarm.Options()
        options.originSize = 4 << 20
        options.peerHosts = ["127.0.0.1", "127.0.0.1"]
        try await LocalSwarm.run(options) { swarm in
            let mirror = TestOrigin(length: 4 << 20)
            try await withOrigins([mirror]) { mirrorURLs in
                var configuration = ClientConfiguration(url: swarm.fileURL())
                configuration.mirrors = mirrorURLs
                configuration.trackerURLs = [swarm.trackerURL]
                configuration.token = swarm.token
                configuration.outputFile = try makeTemporaryDirectory() + "/p.bin"
                configuration.pieceSize = 256 << 10
                configuration.useSelf = false
                // The peers refuse loopback origins unless the swarm allows them; LocalSwarm does.
                let summary = try await download(configuration)
                #expect(summary.sha256 == mirror.content.sha256())
                #expect(summary.sources.contains { $0.source.contains(" via 127.0.0.1:") && $0.bytes > 0 }, "sources: \(summary.sources)")
                #expect(mirror.bytesServed > 0)
            }
        }
    }
}
