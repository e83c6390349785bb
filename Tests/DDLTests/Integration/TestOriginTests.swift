import AsyncHTTPClient
import Crypto
import DDLCore
@testable import DDLTestOrigin
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// The test origin's own tools: the pause gate and the presigned-style URLs, against a real
/// server on loopback.
@Suite struct TestOriginTests {
    /// Runs `origin` on 127.0.0.1 with a fresh HTTP client; passes its base URL.
    func withOrigin(_ origin: TestOrigin, _ body: @Sendable @escaping (String, HTTPClient) async throws -> Void) async throws {
        let port = Eventually<Int>()
        try await withHTTPClient { client in
            try await withServices([origin.makeApplication(logger: testLogger) { await port.set($0) }]) {
                try await body("http://127.0.0.1:\(try await port.wait())", client)
            }
        }
    }

    func get(_ client: HTTPClient, _ url: String, range: String? = nil, method: HTTPMethod = .GET) async throws -> (Int, HTTPHeaders, ByteBuffer) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let range { request.headers.add(name: "Range", value: range) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), response.headers, body)
    }

    // MARK: gate

    @Test func gateHoldsAResponseJustBeforeItsOffsetUntilReleased() async throws {
        let origin = TestOrigin(length: 1 << 20)
        try await withOrigin(origin) { base, client in
            let gate = origin.pause(atOffset: 300_000)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let (status, _, body) = try await get(client, base + "/files/a", range: "bytes=1000-1048575")
                    #expect(status == 206)
                    #expect(body == origin.content.bytes(ByteRange(first: 1000, last: (1 << 20) - 1)))
                }
                #expect(await gate.reached())
                // Everything before the offset went out, nothing at or after it.
                #expect(origin.bytesServed == 299_000)
                #expect(gate.heldResponses == 1)
                #expect(origin.activeResponses == 1)
                // A range wholly before the gate is not held.
                let (status, _, early) = try await get(client, base + "/files/a", range: "bytes=0-999")
                #expect(status == 206)
                #expect(early.readableBytes == 1000)
                #expect(origin.bytesServed == 300_000)
                gate.release()
                try await group.waitForAll()
            }
            #expect(gate.isReleased)
            #expect(gate.heldResponses == 0)
            #expect(origin.bytesServed == 1_047_576 + 1000)
            // Released for good: later responses pass, and reached() still answers.
            let (_, _, again) = try await get(client, base + "/files/a")
            #expect(again.readableBytes == 1 << 20)
            #expect(await gate.reached())
        }
    }

    @Test func aResponseStartingPastTheGateWaitsBeforeItsFirstByte() async throws {
        let origin = TestOrigin(length: 1 << 20)
        try await withOrigin(origin) { base, client in
            let gate = origin.pause(atOffset: 4096)
            let second = origin.pause(atOffset: 600_000)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let (_, _, body) = try await get(client, base + "/files/a", range: "bytes=500000-700000")
                    #expect(body == origin.content.bytes(ByteRange(first: 500_000, last: 700_000)))
                }
                #expect(await gate.reached())
                #expect(origin.bytesServed == 0)
                gate.release()
                // The next gate on the way holds it again.
                #expect(await second.reached())
                #expect(origin.bytesServed == 100_000)
                second.release()
                try await group.waitForAll()
            }
        }
    }

    @Test func droppingTheGateReleasesIt() async throws {
        let origin = TestOrigin(length: 1 << 20)
        try await withOrigin(origin) { base, client in
            /// Waits for a response at a fresh gate and returns without releasing it.
            @Sendable func holdAndForget(_ started: @Sendable () -> Void) async -> Bool {
                let gate = origin.pause(atOffset: 1 << 19)
                started()
                return await gate.reached()
            }
            let request = Box<Task<Int, any Error>?>(nil)
            let reached = await holdAndForget {
                request.value.withLock { $0 = Task { try await get(client, base + "/files/a").2.readableBytes } }
            }
            #expect(reached)
            let task = try #require(request.value.withLock { $0 })
            #expect(try await task.value == 1 << 20)
        }
    }

    @Test func reachedAnswersFalseWhenReleasedFirstOrCancelled() async throws {
        let origin = TestOrigin(length: 1 << 20)
        let gate = origin.pause(atOffset: 10)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { await gate.reached() }
            group.addTask { await gate.reached() }
            gate.release()
            for try await answer in group { #expect(answer == false) }
        }
        let other = origin.pause(atOffset: 10)
        let waiter = Task { await other.reached() }
        waiter.cancel()
        #expect(await waiter.value == false)
        #expect(!other.isReleased)
        other.release()
    }

    @Test func aCancelledHeldResponseLeavesNothingBehind() async throws {
        let core = GateCore(offset: 0)
        let holder = Task { try await core.hold() }
        #expect(await core.reached())
        #expect(core.heldResponses == 1)
        holder.cancel()
        await #expect(throws: CancellationError.self) { try await holder.value }
        #expect(core.heldResponses == 0)
        // Cancelled before it even arrives: not held at all.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await core.hold()
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        #expect(core.heldResponses == 0)
        core.release()
        try await core.hold()  // released: passes at once
    }

    @Test func shuttingTheOriginDownReleasesHeldResponses() async throws {
        let origin = TestOrigin(length: 1 << 20)
        let gate = origin.pause(atOffset: 1 << 19)
        let port = Eventually<Int>()
        try await withHTTPClient { client in
            let request = Box<Task<Int, any Error>?>(nil)
            try await withServices([origin.makeApplication(logger: testLogger) { await port.set($0) }]) {
                let url = "http://127.0.0.1:\(try await port.wait())/files/a"
                request.value.withLock { $0 = Task { try await get(client, url).2.readableBytes } }
                #expect(await gate.reached())
                // Return with the gate still closed and held: the graceful shutdown opens it.
            }
            #expect(gate.isReleased)
            let task = try #require(request.value.withLock { $0 })
            _ = try? await task.value  // delivered or cut off: either way, no hang
            #expect(origin.activeResponses == 0)
        }
        withExtendedLifetime(gate) {}
    }

    // MARK: HEAD status and signed URLs

    @Test func headStatusAnswersHeadOnly() async throws {
        let origin = TestOrigin(length: 1000, faults: { var f = TestOrigin.Faults(); f.headStatus = 403; return f }())
        try await withOrigin(origin) { base, client in
            #expect(try await get(client, base + "/files/a", method: .HEAD).0 == 403)
            let (status, headers, body) = try await get(client, base + "/files/a", range: "bytes=0-0")
            #expect(status == 206)
            #expect(headers.first(name: "Content-Range") == "bytes 0-0/1000")
            #expect(body.readableBytes == 1)
            #expect(origin.headRequests == 1)
        }
    }

    @Test func signedURLsRedirectToTargetsThatExpire() async throws {
        let clock = ManualClock()
        let origin = TestOrigin(length: 5000, now: clock.now)
        origin.update { $0.signedURLLifetime = .seconds(10) }
        try await withOrigin(origin) { base, client in
            // The redirect itself, not followed.
            let noRedirects = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
            let redirect: HTTPClientResponse
            do {
                redirect = try await noRedirects.execute(HTTPClientRequest(url: base + "/signed/big.iso"), timeout: .seconds(10))
                try await noRedirects.shutdown()
            } catch {
                try? await noRedirects.shutdown()
                throw error
            }
            #expect(redirect.status == .found)
            let location = try #require(redirect.headers.first(name: "Location"))
            #expect(location.hasPrefix("/s/") && location.hasSuffix("/big.iso"))
            let target = base + location

            let (ok, _, bytes) = try await get(client, target, range: "bytes=100-199")
            #expect(ok == 206)
            #expect(bytes == origin.content.bytes(ByteRange(first: 100, last: 199)))
            // Signed for GET only.
            #expect(try await get(client, target, method: .HEAD).0 == 403)
            // Valid until its lifetime passes on the origin's clock.
            clock.advance(by: .seconds(9))
            #expect(try await get(client, target, range: "bytes=0-0").0 == 206)
            clock.advance(by: .seconds(1))
            #expect(try await get(client, target, range: "bytes=0-0").0 == 403)
            // A fresh redirect gives a fresh URL; expireSignedURLs ends it without a clock.
            let (fresh, _, _) = try await get(client, base + "/signed/big.iso", range: "bytes=0-0")
            #expect(fresh == 206)
            #expect(origin.signedURLsIssued == 2)
            origin.expireSignedURLs()
            let second = base + "/s/sig2/big.iso"
            #expect(try await get(client, second, range: "bytes=0-0").0 == 403)
            #expect(try await get(client, base + "/s/forged/big.iso").0 == 403)
            // Following the redirect from the start always works.
            #expect(try await get(client, base + "/signed/big.iso").2.readableBytes == 5000)
        }
    }

    // MARK: published digests

    @Test func checksumFilesAndDigestHeadersAreServedAsConfigured() async throws {
        let origin = TestOrigin(length: 1000)
        try await withOrigin(origin) { base, client in
            origin.update {
                $0.checksumFiles = ["SHA256SUMS": "abc  a\n"]
                $0.digestHeaders = ["Repr-Digest": "sha-256=:\(origin.digest(SHA256.self).base64):"]
            }
            let (status, _, body) = try await get(client, base + "/files/SHA256SUMS")
            #expect(status == 200)
            #expect(String(buffer: body) == "abc  a\n")
            // Names that look like checksum files are never the content.
            #expect(try await get(client, base + "/files/a.sha256").0 == 404)
            #expect(try await get(client, base + "/files/SHA512SUMS?x=1").0 == 404)
            // Under signed links nobody signed them.
            #expect(try await get(client, base + "/signed/SHA256SUMS").0 == 403)
            #expect(origin.checksumFileRequests.map(\.uri) == ["/files/SHA256SUMS", "/files/a.sha256", "/files/SHA512SUMS?x=1", "/signed/SHA256SUMS"])
            #expect(origin.getRequests == 0 && origin.headRequests == 0 && origin.signedURLsIssued == 0)
            // The content carries the digest headers, HEAD, 200 and 206 alike.
            let (headStatus, headHeaders, _) = try await get(client, base + "/files/a", method: .HEAD)
            #expect(headStatus == 200)
            #expect(headHeaders.first(name: "Repr-Digest") == "sha-256=:\(origin.digest(SHA256.self).base64):")
            let (rangeStatus, rangeHeaders, _) = try await get(client, base + "/files/a", range: "bytes=0-9")
            #expect(rangeStatus == 206)
            #expect(rangeHeaders.first(name: "Repr-Digest") != nil)
            // A status for every checksum file.
            origin.update { $0.checksumFileStatus = 500 }
            #expect(try await get(client, base + "/files/SHA256SUMS").0 == 500)
        }
    }
}

/// A value behind a lock that escaping closures can share.
final class Box<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }

}
