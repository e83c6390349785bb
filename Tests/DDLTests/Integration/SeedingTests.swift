import Crypto
import AsyncHTTPClient
import DDLApp
import DDLClient
import DDLCore
import DDLTestOrigin
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Seeding: a `ddl get` on a machine that runs `ddl server` hands its download to that peer,
/// which fills the download's own file with its fetches and, once the file is verified,
/// serves all of it to the swarm from there: the file is stored once on this machine.
@Suite struct SeedingTests {
    static let size: Int64 = 16 << 20

    func options(_ root: String) -> LocalSwarm.Options {
        var options = LocalSwarm.Options()
        options.originSize = Self.size
        options.peerHosts = ["127.0.0.2", "127.0.0.3"]
        options.cacheRoot = root
        return options
    }

    /// A client of the machine whose peer is the first one (127.0.0.2).
    func configuration(_ swarm: LocalSwarm, root: String) throws -> ClientConfiguration {
        var configuration = ClientConfiguration(url: swarm.fileURL())
        configuration.trackerURLs = [swarm.trackerURL]
        configuration.token = swarm.token
        configuration.outputFile = try makeTemporaryDirectory() + "/file.bin"
        configuration.pieceSize = 512 << 10
        configuration.progress = .quiet
        configuration.localAddresses = ["127.0.0.2"]
        configuration.seedSocket = SeedAPI.socketPath(cacheDirectory: root + "/peer-1")
        configuration.seedWait = true  // the next download reads what the peer read
        return configuration
    }

    /// The `data` files of a peer's cache entries.
    func dataFiles(_ directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasPrefix(".") }.map { directory + "/" + $0 + "/data" }.filter { FileManager.default.fileExists(atPath: $0) }
    }

    func identity(_ path: String) -> (dev: UInt, ino: UInt, links: Int, allocated: Int64)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (UInt(info.st_dev), UInt(info.st_ino), Int(info.st_nlink), Int64(info.st_blocks) * 512)
    }

    /// Bytes on disk of the peer's cached files other than `file`.
    func ownCopies(_ directory: String, besides file: String) -> Int64 {
        let mine = identity(file)
        return dataFiles(directory).compactMap(identity).filter { $0.dev != mine?.dev || $0.ino != mine?.ino }.reduce(0) { $0 + $1.allocated }
    }

    @Test func aDownloadThroughThisMachinesPeerIsStoredOnceAndSeededWhole() async throws {
        let root = try makeTemporaryDirectory() + "/caches"
        try await LocalSwarm.run(options(root)) { swarm in
            // The publisher's digest vouches for the file: the peer may pass all of it on.
            let origin = swarm.origin!
            origin.update { $0.digestHeaders = ["Repr-Digest": "sha-256=:\(origin.digest(SHA256.self).base64):"] }
            let configuration = try configuration(swarm, root: root)
            let summary = try await download(configuration)
            let output = configuration.outputFile!
            #expect(try sha256(ofFile: output) == swarm.origin!.content.sha256())
            #expect(summary.seededBytes == Self.size, "\(String(describing: summary.seededBytes))")
            #expect(ConsoleObserver.summaryLines(summary).contains { $0.contains("seeding") })
            // One copy on this machine: the peer's cached file is the download itself, and the
            // share it fetched for this client went straight into it.
            #expect(identity(output)?.links == 2)
            #expect(ownCopies(root + "/peer-1", besides: output) == 0, "the peer stored a copy of its own")
            #expect((summary.sources.first { $0.source.hasPrefix("peer 127.0.0.2:") }?.pieces ?? 0) > 0, "this machine's share went through its peer")

            // After: another machine downloads the file while the other peer has forgotten its
            // share. This machine's peer serves the pieces it never fetched too.
            var forget = HTTPClientRequest(url: "http://127.0.0.3:\(swarm.peerPorts[1])/v1/cache")
            forget.method = .DELETE
            forget.headers.add(name: "Authorization", value: "Bearer \(swarm.token!)")
            try await withHTTPClient { [forget] client in
                let response = try await client.execute(forget, timeout: .seconds(10))
                #expect(response.status == .ok)
            }
            var other = try self.configuration(swarm, root: root)
            other.localAddresses = []
            other.useSelf = false
            let before = swarm.origin!.bytesServed
            let second = try await download(other)
            #expect(try sha256(ofFile: other.outputFile!) == swarm.origin!.content.sha256())
            let seeder = second.sources.first { $0.source.hasPrefix("peer 127.0.0.2:") }
            #expect(Double(seeder?.cachedBytes ?? 0) >= 0.85 * Double(Self.size), "\(second.sources.map { "\($0.source): \($0.bytes) \($0.cachedBytes)" })")
            let taken = swarm.origin!.bytesServed - before
            #expect(Double(taken) <= 0.15 * Double(Self.size), "the origin sent \(taken) bytes")
        }
    }

    /// Without a publisher's digest, the file is still stored once, but the peer passes on
    /// only the share it fetched itself: bytes other peers delivered, checked by sample only,
    /// are not spread further.
    @Test func withoutADigestThePeerPassesOnOnlyItsOwnShare() async throws {
        let root = try makeTemporaryDirectory() + "/caches"
        try await LocalSwarm.run(options(root)) { swarm in
            let configuration = try configuration(swarm, root: root)
            let summary = try await download(configuration)
            let output = configuration.outputFile!
            #expect(try sha256(ofFile: output) == swarm.origin!.content.sha256())
            #expect(summary.integrity == .notPublished)
            let share = summary.sources.first { $0.source.hasPrefix("peer 127.0.0.2:") }
            #expect((share?.pieces ?? 0) > 0)
            #expect(summary.seededBytes != nil && summary.seededBytes! < Self.size, "\(String(describing: summary.seededBytes))")
            #expect(identity(output)?.links == 2)
            #expect(ownCopies(root + "/peer-1", besides: output) == 0)
        }
    }

    /// The control: without seeding, the peer keeps a copy of the share it fetched, and holds
    /// only that share after the download.
    @Test func withoutSeedingThePeerKeepsACopyOfItsShare() async throws {
        let root = try makeTemporaryDirectory() + "/caches"
        try await LocalSwarm.run(options(root)) { swarm in
            var configuration = try configuration(swarm, root: root)
            configuration.seed = false
            let summary = try await download(configuration)
            let output = configuration.outputFile!
            #expect(try sha256(ofFile: output) == swarm.origin!.content.sha256())
            #expect(summary.seededBytes == nil)
            #expect(identity(output)?.links == 1)
            let pieces = summary.sources.first { $0.source.hasPrefix("peer 127.0.0.2:") }?.pieces ?? 0
            #expect(ownCopies(root + "/peer-1", besides: output) >= Int64(pieces) * (512 << 10), "the share is stored twice")
        }
    }

    /// A new download into a name whose earlier `.part` the peer holds unlinks it rather than
    /// truncating the peer's bytes.
    @Test func startingOverLeavesAFileThePeerHoldsAlone() throws {
        let directory = try makeTemporaryDirectory()
        let part = directory + "/file.bin.part"
        let held = directory + "/held"
        #expect(FileManager.default.createFile(atPath: part, contents: Data(repeating: 7, count: 4096)))
        #expect(link(part, held) == 0)
        let file = try PartFile(creating: part, length: 8192)
        file.close()
        #expect(FileManager.default.contents(atPath: held) == Data(repeating: 7, count: 4096))
        #expect(identity(part)?.links == 1 && identity(held)?.links == 1)
    }
}
