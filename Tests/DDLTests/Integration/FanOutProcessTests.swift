import AsyncHTTPClient
import DDLClient
import DDLCore
import DDLTestOrigin
import Foundation
import Testing

/// Fan-out with real `ddl server` processes (each with its own cache): one is killed in the
/// middle, and every client still ends with an exact file.
extension ProcessTests {
    @Test func aPeerKilledInTheMiddleOfAFanOutLeavesEveryClientAnExactFile() async throws {
        let directory = try makeTemporaryDirectory()
        let origin = TestOrigin(length: 16 << 20)
        let originPort = Eventually<Int>()
        try await withServices([origin.makeApplication(logger: testLogger) { await originPort.set($0) }]) {
            let fileURL = "http://127.0.0.1:\(try await originPort.wait())/files/fan.bin"
            try await withHTTPClient { client in
                let swarm = try await Swarm.start(directory: directory, ttl: 5, servers: 3, client: client)
                // Every client's pieces stop at 8 MiB until a peer is gone.
                let gate = origin.pause(atOffset: 8 << 20)
                let configurations = try (0..<2).map { index in
                    var configuration = ClientConfiguration(url: fileURL)
                    configuration.trackerURLs = [swarm.trackerURL]
                    configuration.trackerFingerprints = [swarm.fingerprint]
                    configuration.token = swarm.token
                    configuration.useSelf = false
                    configuration.pieceSize = 1 << 20
                    configuration.progress = .quiet
                    configuration.outputFile = try makeTemporaryDirectory() + "/fan-\(index).bin"
                    return configuration
                }
                let summaries = try await withThrowingTaskGroup(of: DownloadSummary.self) { group in
                    for configuration in configurations { group.addTask { try await download(configuration) } }
                    #expect(await gate.reached())
                    swarm.servers[0].signal(SIGKILL)
                    _ = try await swarm.servers[0].waitForExit()
                    gate.release()
                    var summaries: [DownloadSummary] = []
                    for try await summary in group { summaries.append(summary) }
                    return summaries
                }
                for configuration in configurations {
                    #expect(try sha256(ofFile: configuration.outputFile!) == origin.content.sha256())
                }
                #expect(summaries.count == 2)
                for server in swarm.servers.dropFirst() { server.signal(SIGTERM) }
                for server in swarm.servers.dropFirst() { _ = try await server.waitForExit() }
                swarm.tracker.signal(SIGINT)
                _ = try await swarm.tracker.waitForExit()
            }
        }
    }
}
