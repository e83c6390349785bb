import AsyncHTTPClient
import DDLCore
import DDLPeer
import DDLTestOrigin
import Foundation
import Logging
import NIOCore
import Testing

/// Presigned URLs in the peer's cache: keyed without their signature, served to a URL signed
/// again after one byte from the origin, never to a URL the origin refuses, and never listed
/// or stored with their signature.
extension PeerCacheTests {
    func presigned(_ h: Harness, _ signature: String) -> String {
        h.originURL + TestOrigin.presignedURL("a.bin", signature: signature)
    }

    /// The `meta.json` of every cached file in `directory`, as text.
    func metaFiles(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }.sorted().map {
            try String(contentsOfFile: directory + "/" + $0 + "/meta.json", encoding: .utf8)
        }
    }

    @Test func aURLSignedAgainIsServedFromTheCacheAfterOneByteFromTheOrigin() async throws {
        try await withCachingPeer { h in
            let range = ByteRange(first: 0, last: (1 << 20) - 1)
            let (status, first, firstShared) = try await h.fetch(range, url: presigned(h, "sigAAAA1111"))
            #expect(status == .partialContent)
            #expect(first == h.expected(range))
            #expect(firstShared == 0)
            let stored = h.origin.bytesServed
            #expect(stored == range.count)
            // Another signature of the same object: the same key. The origin is asked once
            // whether it accepts this URL (one byte), and the rest comes from the cache.
            let (_, second, secondShared) = try await h.fetch(range, url: presigned(h, "sigBBBB2222"))
            #expect(second == h.expected(range))
            #expect(secondShared == range.count)
            #expect(h.origin.getRequests == 2)
            #expect(h.origin.bytesServed - stored == 1, "only the check's byte")
            // Accepted once, that URL needs no more checks; nor does the first one.
            for signature in ["sigBBBB2222", "sigAAAA1111"] {
                let inner = ByteRange(first: 70_001, last: 900_123)
                let (_, body, shared) = try await h.fetch(inner, url: presigned(h, signature))
                #expect(body == h.expected(inner))
                #expect(shared == inner.count)
            }
            #expect(h.origin.getRequests == 2)
            #expect(h.origin.presignedRefusals == 0)
        }
    }

    @Test func aCachedSignedFileIsNotServedToAURLTheOriginRefuses() async throws {
        try await withCachingPeer { h in
            let range = ByteRange(first: 0, last: 262_143)
            _ = try await h.fetch(range, url: presigned(h, "sigAAAA1111"))
            // Without a signature, or with only part of one, the key is the same: the origin,
            // asked first, refuses, and its refusal is the answer.
            let unsigned = h.originURL + "/presigned/a.bin?x-id=GetObject&versionId=v1"
            for url in [unsigned, unsigned + "&X-Amz-Expires=60"] {
                #expect(CacheKey(url: url, ifRange: "\"v1\"") == CacheKey(url: presigned(h, "sigAAAA1111"), ifRange: "\"v1\""))
                let (status, body, shared) = try await h.fetch(range, url: url)
                #expect(status == .badGateway)
                #expect(body != h.expected(range) && body.readableBytes < 4096)
                #expect(shared == nil)
            }
            #expect(h.origin.presignedRefusals == 2)
            // Nor while a signed request is still fetching the blocks it would wait for.
            let gate = h.origin.pause(atOffset: 524_288)
            let whole = ByteRange(first: 0, last: (1 << 20) - 1)
            async let leader = h.fetch(whole, url: presigned(h, "sigCCCC3333"))
            #expect(await gate.reached())
            let (status, _, _) = try await h.fetch(whole, url: unsigned)
            #expect(status == .badGateway)
            #expect(h.origin.presignedRefusals == 3)
            gate.release()
            let (_, led, _) = try await leader
            #expect(led == h.expected(whole))
        }
    }

    @Test func signaturesAreNeitherListedNorStoredOnDisk() async throws {
        try await withCachingPeer { h in
            _ = try await h.fetch(ByteRange(first: 0, last: 262_143), url: presigned(h, "sigAAAA1111"))
            let listing = try await h.client.execute(HTTPClientRequest(url: h.peerURL + "/v1/cache"), timeout: .seconds(10))
            let text = String(buffer: try await listing.body.collect(upTo: 1 << 20))
            #expect(text.contains("a.bin"))
            for secret in ["sigAAAA1111", "X-Amz", "AKIAEXAMPLE"] { #expect(!text.contains(secret)) }
            let metas = try metaFiles(h.cacheDirectory)
            #expect(metas.count == 1)
            // The key keeps the parameters that are not signing ones.
            #expect(metas[0].contains("x-id=GetObject&versionId=v1"))
            for secret in ["sigAAAA1111", "X-Amz", "AKIAEXAMPLE"] { #expect(!metas[0].contains(secret)) }
        }
    }

    @Test func parametersConfiguredToIgnoreAreLeftOutOfTheKey() async throws {
        try await withCachingPeer(ignoring: ["token"]) { h in
            let range = ByteRange(first: 0, last: 262_143)
            _ = try await h.fetch(range, url: h.fileURL + "?token=one&v=1")
            let stored = h.origin.bytesServed
            let (_, body, shared) = try await h.fetch(range, url: h.fileURL + "?token=two&v=1")
            #expect(body == h.expected(range))
            #expect(shared == range.count)
            #expect(h.origin.bytesServed - stored == 1)
            // Another value of a parameter that is not ignored is another key.
            let (_, _, other) = try await h.fetch(range, url: h.fileURL + "?token=two&v=2")
            #expect(other == 0)
        }
    }

    /// The peer's own log lines, at trace, through a miss, a re-signed hit, a refused URL and
    /// an unreachable origin: no signature, whatever the line.
    @Test func thePeerLogsNoSignature() async throws {
        let lines = CapturedLogs()
        let peerLogger = lines.traceLogger
        let origin = TestOrigin(length: 1 << 20)
        let originPort = Eventually<Int>()
        let peerPort = Eventually<Int>()
        let configuration = Self.configuration(cacheDirectory: try makeTemporaryDirectory() + "/cache")
        try await withHTTPClient { client in
            var services = try PeerServer.makeServices(configuration: configuration, httpClient: client, logger: peerLogger) { await peerPort.set($0) }
            services.append(origin.makeApplication(logger: testLogger) { await originPort.set($0) })
            try await withServices(services) {
                let base = "http://127.0.0.1:\(try await originPort.wait())"
                let h = Harness(origin: origin, originURL: base, peerURL: "http://127.0.0.1:\(try await peerPort.wait())", cacheDirectory: "", client: client)
                let range = ByteRange(first: 0, last: 262_143)
                _ = try await h.fetch(range, url: presigned(h, "sigAAAA1111"))
                _ = try await h.fetch(range, url: presigned(h, "sigBBBB2222"))
                let (refused, _, _) = try await h.fetch(range, url: base + "/presigned/a.bin?x-id=GetObject&versionId=v1&X-Amz-Signature=")
                #expect(refused == .badGateway)
                let (unreachable, _, _) = try await h.fetch(range, url: "http://127.0.0.1:1/a.bin?X-Amz-Signature=sigDDDD4444&X-Amz-Expires=1")
                #expect(unreachable == .badGateway)
            }
        }
        let all = lines.all
        #expect(all.contains { $0.contains("origin request failed") }, "the unreachable origin's line is missing")
        #expect(all.contains { $0.contains("the origin refused") }, "the refused URL's line is missing")
        let leaks = all.filter { line in ["sigAAAA", "sigBBBB", "sigDDDD", "X-Amz"].contains { line.contains($0) } }
        #expect(leaks.isEmpty, "a signature is in \(leaks.count) log lines, e.g. \(leaks.first ?? "")")
    }

    /// Files stored before keys left signatures out (`meta.json` holding the whole signed URL,
    /// and no `open`) are read again under their new key, their `meta.json` rewritten without
    /// the signature, and two of them of one object become one.
    @Test func filesStoredUnderTheWholeSignedURLMoveToTheirNewKey() async throws {
        let directory = try makeTemporaryDirectory() + "/cache"
        let origin = TestOrigin(length: 1 << 20)
        let range = ByteRange(first: 0, last: (1 << 20) - 1)
        try await withRestartedPeer(origin: origin, directory: directory) { run, h in
            if run == 1 {
                _ = try await h.fetch(range, url: presigned(h, "sigAAAA1111"))
                return
            }
            let before = origin.bytesServed
            let (_, body, shared) = try await h.fetch(range, url: presigned(h, "sigBBBB2222"))
            #expect(body == h.expected(range))
            #expect(shared == range.count)
            #expect(origin.bytesServed - before == 1, "only the check's byte")
        } afterRun: { run, base in
            guard run == 1 else { return }
            // Make the stored file look as the previous version wrote it, twice, under
            // two signatures of the object.
            let entries = try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }
            #expect(entries.count == 1)
            for (index, signature) in ["sigOLD11111", "sigOLD22222"].enumerated() {
                let entry = directory + "/" + entries[0] + (index == 0 ? "" : ".copy")
                if index > 0 { try FileManager.default.copyItem(atPath: directory + "/" + entries[0], toPath: entry) }
                let metaPath = entry + "/meta.json"
                var meta = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: metaPath))) as? [String: Any])
                var key = try #require(meta["key"] as? [String: Any])
                key["url"] = base + TestOrigin.presignedURL("a.bin", signature: signature)
                meta["key"] = key
                meta["open"] = nil
                try JSONSerialization.data(withJSONObject: meta).write(to: URL(fileURLWithPath: metaPath))
            }
        }
        let metas = try metaFiles(directory)
        #expect(metas.count == 1, "two files of one object under the new key: one is kept")
        for secret in ["sigOLD", "sigBBBB", "X-Amz"] { #expect(!(metas.first ?? "").contains(secret)) }
        #expect(origin.presignedRefusals == 0)
    }
}
