import AsyncHTTPClient
import DDLCore
import DDLServerSupport
import DDLTestOrigin
import DDLTrackerClient
import Foundation
import Testing

/// Issue 3 with the real binary: processes killed mid-download.
@Suite(.serialized) struct FaultProcessTests {
    typealias Child = ProcessTests.Child

    /// Runs a test origin and passes its file URL.
    func withOrigin(size: Int64, _ body: @Sendable @escaping (TestOrigin, String) async throws -> Void) async throws {
        let origin = TestOrigin(length: size)
        let port = Eventually<Int>()
        try await withServices([origin.makeApplication(logger: testLogger) { await port.set($0) }]) {
            try await body(origin, "http://127.0.0.1:\(try await port.wait())/files/killed.bin")
        }
    }

    @Test func killedGetResumesAndTheOriginServesLittleTwice() async throws {
        let size: Int64 = 16 << 20
        try await withOrigin(size: size) { origin, url in
            let directory = try makeTemporaryDirectory()
            let target = directory + "/k.bin"
            let arguments = ["get", url, "-o", target, "--connections", "4", "--piece-size", "256KiB", "--quiet"]
            let gate = origin.pause(atOffset: size / 2)
            let first = try Child(arguments, directory: directory, name: "get1")
            let halfway = await gate.reached(unless: { _ = try? await first.waitForExit(seconds: 60) })
            #expect(halfway, "ddl get ended before half way: \(first.output)")
            first.signal(SIGKILL)
            _ = try await first.waitForExit()
            gate.release()
            #expect(FileManager.default.fileExists(atPath: target + ".part"))
            #expect(FileManager.default.fileExists(atPath: target + ".ddl"))

            let second = try Child(arguments, directory: directory, name: "get2")
            #expect(try await second.waitForExit(seconds: 60) == 0)
            #expect(try sha256(ofFile: target) == origin.content.sha256())
            #expect(origin.bytesServed <= size * 5 / 4, "origin served \(origin.bytesServed) bytes in total for \(size)")
            #expect(!FileManager.default.fileExists(atPath: target + ".ddl"))
        }
    }

    @Test func sigintStopsCleanlyWithExitCode130AndKeepsTheState() async throws {
        let size: Int64 = 16 << 20
        try await withOrigin(size: size) { origin, url in
            let directory = try makeTemporaryDirectory()
            let target = directory + "/i.bin"
            let arguments = ["get", url, "-o", target, "--piece-size", "256KiB", "--quiet"]
            let gate = origin.pause(atOffset: size / 4)
            let first = try Child(arguments, directory: directory, name: "get1")
            let quarter = await gate.reached(unless: { _ = try? await first.waitForExit(seconds: 60) })
            #expect(quarter, "ddl get ended before a quarter: \(first.output)")
            first.signal(SIGINT)
            #expect(try await first.waitForExit() == 130)
            #expect(FileManager.default.fileExists(atPath: target + ".ddl"))
            #expect(!FileManager.default.fileExists(atPath: target))
            // The origin stops sending: once released, the responses held at the gate end
            // (each at most finishes its 256 KiB piece into the dead connection's socket
            // buffer) and no other response is still going.
            let held = gate.heldResponses
            let before = origin.bytesServed
            gate.release()
            let ended = try await eventually(within: 10) { origin.activeResponses == 0 }
            #expect(ended)
            // A request that reached the origin just before the client died but not the gate
            // yet is not counted as held: the bound is the client's 4 connections.
            #expect(origin.bytesServed - before <= Int64(max(held, 4)) * (256 << 10))

            let second = try Child(arguments, directory: directory, name: "get2")
            #expect(try await second.waitForExit(seconds: 60) == 0)
            #expect(try sha256(ofFile: target) == origin.content.sha256())
        }
    }

    @Test func killedServerMidDownloadStillGivesAnExactFileAndLeavesTheListWithinItsTTL() async throws {
        let size: Int64 = 24 << 20
        try await withOrigin(size: size) { origin, url in
            let directory = try makeTemporaryDirectory()
            try await withHTTPClient { client in
                let swarm = try await ProcessTests.Swarm.start(directory: directory, ttl: 2, client: client)
                let (tracker, servers, trackerURL, token) = (swarm.tracker, swarm.servers, swarm.trackerURL, swarm.token)
                let trackerClient = swarm.trackerClient(client)

                let target = directory + "/s.bin"
                let gate = origin.pause(atOffset: size / 3)
                let get = try Child(["get", url, "-o", target, "--tracker", trackerURL, "--allow-peer-network", "127.0.0.0/8", "--token", token, "--piece-size", "512KiB", "--json"] + swarm.trust,
                                    directory: directory, name: "get")
                let third = await gate.reached(unless: { _ = try? await get.waitForExit(seconds: 60) })
                #expect(third, "ddl get ended before a third: \(get.output)")
                servers[0].signal(SIGKILL)
                gate.release()
                #expect(try await get.waitForExit(seconds: 60) == 0, "ddl get failed: \(get.output)")
                #expect(try sha256(ofFile: target) == origin.content.sha256())

                // Killed without deregistering: gone within its TTL (2 s) plus a sweep.
                let gone = try await eventually(within: 6) { (try? await trackerClient.peers().map(\.host)) == ["127.0.0.3"] }
                #expect(gone)
                servers[1].signal(SIGTERM)
                tracker.signal(SIGTERM)
                _ = try await servers[1].waitForExit()
                _ = try await tracker.waitForExit()
            }
        }
    }
}

/// Disk full, on a tiny tmpfs (needs root to mount; skipped otherwise).
@Suite(.serialized) struct DiskFullTests {
    static var canMount: Bool { geteuid() == 0 }

    @Test(.enabled(if: DiskFullTests.canMount, "mounting a tmpfs needs root"))
    func diskFullIsAClearErrorAndKeepsTheStateForResume() async throws {
        let directory = try makeTemporaryDirectory()
        let mountPoint = directory + "/small"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint]
        try mount.run()
        mount.waitUntilExit()
        try #require(mount.terminationStatus == 0, "mount failed")
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [mountPoint]
            try? umount.run()
            umount.waitUntilExit()
        }
        let origin = TestOrigin(length: 6 << 20)
        let port = Eventually<Int>()
        try await withServices([origin.makeApplication(logger: testLogger) { await port.set($0) }]) {
            let url = "http://127.0.0.1:\(try await port.wait())/files/full.bin"
            let get = try ProcessTests.Child(["get", url, "-d", mountPoint, "--piece-size", "256KiB"], directory: directory, name: "get")
            #expect(try await get.waitForExit(seconds: 60) == 6)
            let errors = (try? String(contentsOfFile: directory + "/get.err", encoding: .utf8)) ?? ""
            #expect(errors.contains("No space left") || errors.contains("free some space"), "stderr: \(errors)")
            #expect(FileManager.default.fileExists(atPath: mountPoint + "/full.bin.part"))
            #expect(FileManager.default.fileExists(atPath: mountPoint + "/full.bin.ddl"))
            #expect(!FileManager.default.fileExists(atPath: mountPoint + "/full.bin"))
        }
    }
}
