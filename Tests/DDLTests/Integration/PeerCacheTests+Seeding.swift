import AsyncHTTPClient
import DDLClient
import DDLCore
import DDLPeer
import DDLTestOrigin
import Foundation
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The seed socket: a download of this machine handed to its peer, whose cache then keeps the
/// file's bytes in the download's own file (see docs/cache.md, "Seeding").
extension PeerCacheTests {
    /// Sends `offer` to the peer's seed socket; returns the answer.
    func seed(_ h: Harness, _ offer: SeedAPI.Offer) async throws -> SeedAPI.Answer {
        let url = URL(httpURLWithSocketPath: SeedAPI.socketPath(cacheDirectory: h.cacheDirectory), uri: "/v1/seed")!
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(offer)))
        let response = try await h.client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        #expect(response.status == .ok)
        return try JSONDecoder().decode(SeedAPI.Answer.self, from: Data(buffer: body))
    }

    /// An offer of `path`, by default verified against a digest when complete.
    func offer(_ h: Harness, path: String, complete: Bool, verified: Bool = true, length: Int64? = nil, validator: String = "\"v1\"") -> SeedAPI.Offer {
        SeedAPI.Offer(
            url: h.fileURL, validator: validator, length: length ?? h.origin.content.length, etag: "\"v1\"", lastModified: nil, path: path, complete: complete,
            verified: complete && verified, wait: true)
    }

    /// A file of `length` bytes (sparse) in a new directory, as a download's `.part` is made.
    func makePart(length: Int64) throws -> String {
        let path = try makeTemporaryDirectory() + "/file.bin.part"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        #expect(truncate(path, off_t(length)) == 0)
        return path
    }

    func write(_ bytes: ByteBuffer, to path: String, at offset: Int64) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(buffer: bytes))
        try handle.close()
    }

    func read(_ path: String, _ range: ByteRange) throws -> ByteBuffer {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64(range.first))
        let data = try handle.read(upToCount: Int(range.count)) ?? Data()
        try handle.close()
        return ByteBuffer(data: data)
    }

    func linkCount(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_nlink) : 0
    }

    /// The `data` files of the cache directory's entries.
    func dataFiles(_ directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasPrefix(".") }.map { directory + "/" + $0 + "/data" }.filter { FileManager.default.fileExists(atPath: $0) }
    }

    func sameFile(_ a: String, _ b: String) -> Bool {
        var x = stat(), y = stat()
        return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino
    }

    @Test func theSeedSocketIsPrivateAndTakesOnlyFilesItMayServe() async throws {
        try await withCachingPeer { h in
            var info = stat()
            #expect(stat(h.cacheDirectory + "/.seed", &info) == 0)
            #expect(info.st_mode & 0o777 == 0o700, "only the peer's user may reach the socket")
            let length = h.origin.content.length
            let part = try makePart(length: length)
            // Not an absolute path, a symbolic link, the wrong length, no strong validator.
            let relative = try await seed(h, offer(h, path: "file.bin.part", complete: false))
            #expect(!relative.shared)
            let link = part + ".link"
            #expect(symlink(part, link) == 0)
            let linked = try await seed(h, offer(h, path: link, complete: true))
            #expect(!linked.shared && linked.reason?.contains("not a regular file") == true, "\(linked)")
            let short = try await seed(h, offer(h, path: part, complete: true, length: length - 1))
            #expect(!short.shared && short.reason?.contains("bytes, not") == true, "\(short)")
            let weak = try await seed(h, offer(h, path: part, complete: true, validator: "W/\"v1\""))
            #expect(!weak.shared)
            if geteuid() == 0 {
                // Someone else's file: the peer would serve bytes its owner may not want served.
                let theirs = try makePart(length: length)
                #expect(chown(theirs, 65534, 65534) == 0)
                let answer = try await seed(h, offer(h, path: theirs, complete: true))
                #expect(!answer.shared && answer.reason?.contains("another user") == true, "\(answer)")
            }
            #expect(dataFiles(h.cacheDirectory).isEmpty, "nothing was taken in")
            // The swarm's API has no such route: only this machine's user can seed.
            var overTCP = HTTPClientRequest(url: h.peerURL + "/v1/seed")
            overTCP.method = .POST
            overTCP.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(offer(h, path: part, complete: true))))
            let refused = try await h.client.execute(overTCP, timeout: .seconds(10))
            #expect(refused.status == .notFound)
            #expect(linkCount(part) == 1)
        }
    }

    @Test func aSharedPartFileIsFilledByThePeersFetchesAndServedWholeOnceComplete() async throws {
        try await withCachingPeer { h in
            let length = h.origin.content.length
            let whole = ByteRange(first: 0, last: length - 1)
            let part = try makePart(length: length)
            let shared = try await seed(h, offer(h, path: part, complete: false))
            #expect(shared.shared && shared.storedBytes == 0, "\(shared)")
            #expect(linkCount(part) == 2)
            // The peer's fetch (for anyone) lands in the download's own file: no copy of its own.
            let first = ByteRange(first: 0, last: (1 << 20) - 1)
            let (status, body, _) = try await h.fetch(first)
            #expect(status == .partialContent && body == h.expected(first))
            // (The answer can end before its last block is stored: a second request waits for it.)
            _ = try await h.fetch(first)
            #expect(try read(part, first) == h.expected(first))
            let data = dataFiles(h.cacheDirectory)
            #expect(data.count == 1 && sameFile(data[0], part), "the cache keeps no copy of its own")
            // The client writes the rest (from other sources), verifies, and hands it over.
            try write(h.expected(ByteRange(first: 1 << 20, last: length - 1)), to: part, at: 1 << 20)
            let sealed = try await seed(h, offer(h, path: part, complete: true))
            #expect(sealed.shared && sealed.storedBytes == length, "\(sealed)")
            let requests = h.origin.getRequests
            let (_, all, cached) = try await h.fetch(whole)
            #expect(all == h.expected(whole))
            #expect(cached == length, "every byte from the seeded file")
            #expect(h.origin.getRequests == requests, "without the origin")
        }
    }

    @Test func aSeededFileThatTheUserChangesIsLetGoAndNeverWritten() async throws {
        try await withCachingPeer { h in
            let length = h.origin.content.length
            let whole = ByteRange(first: 0, last: length - 1)
            let file = try makePart(length: length)
            try write(h.expected(whole), to: file, at: 0)
            let sealed = try await seed(h, offer(h, path: file, complete: true))
            #expect(sealed.shared && sealed.storedBytes == length)
            // The user edits the file in place.
            let edited = ByteRange(first: 2 << 20, last: (2 << 20) + 65_535)
            let garbage = ByteBuffer(repeating: 0x5a, count: Int(edited.count))
            try write(garbage, to: file, at: edited.first)
            let (status, body, _) = try await h.fetch(edited)
            #expect(status == .partialContent)
            #expect(body == h.expected(edited), "the peer serves the origin's bytes, not the edit")
            #expect(try read(file, edited) == garbage, "and never writes over the user's file")
            #expect(linkCount(file) == 1, "the cache let the file go")
            #expect(dataFiles(h.cacheDirectory).allSatisfy { !sameFile($0, file) })
            // Fetched again into a copy of its own, the bytes are cached as usual.
            let (_, again, cached) = try await h.fetch(edited)
            #expect(again == h.expected(edited) && cached == edited.count)
            #expect(try read(file, edited) == garbage)
        }
    }

    @Test func aCompleteDownloadReplacesTheCachesOwnCopy() async throws {
        try await withCachingPeer { h in
            let length = h.origin.content.length
            let whole = ByteRange(first: 0, last: length - 1)
            _ = try await h.fetch(ByteRange(first: 0, last: (1 << 20) - 1))
            _ = try await h.fetch(ByteRange(first: 0, last: (1 << 20) - 1))  // waits for the last block to be stored
            let own = dataFiles(h.cacheDirectory)
            #expect(own.count == 1)
            let file = try makePart(length: length)
            try write(h.expected(whole), to: file, at: 0)
            // While downloading, the cache keeps its own copy; complete, the file replaces it.
            let early = try await seed(h, offer(h, path: file, complete: false))
            #expect(!early.shared && early.reason?.contains("copy of its own") == true, "\(early)")
            let sealed = try await seed(h, offer(h, path: file, complete: true))
            #expect(sealed.shared && sealed.storedBytes == length, "\(sealed)")
            #expect(!FileManager.default.fileExists(atPath: own[0]), "the cache's own copy is gone")
            let data = dataFiles(h.cacheDirectory)
            #expect(data.count == 1 && sameFile(data[0], file))
            let requests = h.origin.getRequests
            let (_, all, cached) = try await h.fetch(whole)
            #expect(all == h.expected(whole) && cached == length)
            #expect(h.origin.getRequests == requests)
        }
    }

    /// A cache spreads only what it trusts: a complete file that matched no digest keeps
    /// serving only the blocks the peer fetched from the origin itself.
    @Test func anUnverifiedFileIsServedOnlyWhereThePeerFetchedIt() async throws {
        try await withCachingPeer { h in
            let length = h.origin.content.length
            let share = ByteRange(first: 0, last: (1 << 20) - 1)
            let rest = ByteRange(first: 1 << 20, last: length - 1)
            // Shared from the start: the peer fetches the first MiB into it.
            let part = try makePart(length: length)
            #expect(try await seed(h, offer(h, path: part, complete: false)).shared)
            _ = try await h.fetch(share)
            _ = try await h.fetch(share)  // waits for the last block to be stored
            try write(h.expected(rest), to: part, at: rest.first)
            let sealed = try await seed(h, offer(h, path: part, complete: true, verified: false))
            #expect(sealed.shared && sealed.storedBytes == share.count, "\(sealed)")
            let requests = h.origin.getRequests
            let (_, mine, cached) = try await h.fetch(share)
            #expect(mine == h.expected(share) && cached == share.count && h.origin.getRequests == requests)
            let (_, others, notCached) = try await h.fetch(rest)
            #expect(others == h.expected(rest) && notCached == 0, "the rest comes from the origin")
            #expect(try read(part, rest) == h.expected(rest))
            // Nothing of its own to vouch for: an unverified file is not taken at all.
            let other = try makePart(length: length)
            let refused = try await seed(h, offer(h, path: other, complete: true, verified: false, validator: "\"v2\""))
            #expect(!refused.shared && refused.reason?.contains("not verified") == true, "\(refused)")
        }
    }

    @Test func anUnverifiedFileReplacesOnlyTheBlocksOfTheCachesOwnCopy() async throws {
        try await withCachingPeer { h in
            let length = h.origin.content.length
            let share = ByteRange(first: 0, last: (1 << 20) - 1)
            _ = try await h.fetch(share)
            _ = try await h.fetch(share)  // waits for the last block to be stored
            let own = dataFiles(h.cacheDirectory)
            let file = try makePart(length: length)
            try write(h.expected(ByteRange(first: 0, last: length - 1)), to: file, at: 0)
            let sealed = try await seed(h, offer(h, path: file, complete: true, verified: false))
            #expect(sealed.shared && sealed.storedBytes == share.count, "\(sealed)")
            #expect(!FileManager.default.fileExists(atPath: own[0]), "the cache's own copy is gone")
            let requests = h.origin.getRequests
            let (_, bytes, cached) = try await h.fetch(share)
            #expect(bytes == h.expected(share) && cached == share.count && h.origin.getRequests == requests)
        }
    }

    /// A fetch that was storing into a download's file when the file was sealed and then
    /// left the cache (`DELETE /v1/cache`) writes nothing more into it: the user's edits stay.
    @Test func aFetchRunningWhenASeededFileLeavesTheCacheWritesNothingMore() async throws {
        try await withCachingPeer { h in
            let length = h.origin.content.length
            let whole = ByteRange(first: 0, last: length - 1)
            let part = try makePart(length: length)
            #expect(try await seed(h, offer(h, path: part, complete: false)).shared)
            let gate = h.origin.pause(atOffset: 1 << 20)
            async let running = h.fetch(ByteRange(first: 0, last: (2 << 20) - 1))
            #expect(await gate.reached(), "the peer's fetch is held at 1 MiB")
            // The download completes (verified) and is sealed; then the user edits the file,
            // and a member removes the cached file while the fetch still runs.
            try write(h.expected(whole), to: part, at: 0)
            #expect(try await seed(h, offer(h, path: part, complete: true)).shared)
            let edited = ByteRange(first: 3 << 19, last: (3 << 19) + 65_535)
            let garbage = ByteBuffer(repeating: 0x5a, count: Int(edited.count))
            try write(garbage, to: part, at: edited.first)
            var remove = HTTPClientRequest(url: h.peerURL + "/v1/cache")
            remove.method = .DELETE
            #expect(try await h.client.execute(remove, timeout: .seconds(10)).status == .ok)
            gate.release()
            let (_, body, _) = try await running
            #expect(body == h.expected(ByteRange(first: 0, last: (2 << 20) - 1)))
            #expect(try read(part, edited) == garbage, "the fetch wrote the origin's bytes over the user's edit")
        }
    }

    /// A download whose end was never offered (the client died, or the offer failed) renamed
    /// its `.part`: the peer stops writing the file once the `.part` path no longer names it.
    @Test func aSharedFileIsNotWrittenOnceItsPartPathIsGone() async throws {
        try await withCachingPeer { h in
            let length = h.origin.content.length
            let part = try makePart(length: length)
            #expect(try await seed(h, offer(h, path: part, complete: false)).shared)
            let final = String(part.dropLast(".part".count))
            #expect(rename(part, final) == 0)
            let range = ByteRange(first: 0, last: (1 << 20) - 1)
            let (_, body, _) = try await h.fetch(range)
            _ = try await h.fetch(range)
            #expect(body == h.expected(range), "relayed all the same")
            #expect(try read(final, range) == ByteBuffer(repeating: 0, count: Int(range.count)), "nothing written into the renamed file")
        }
    }

    /// A peer restarted while a download shared its `.part` writes it no more (the download
    /// may have ended meanwhile) until the download offers it again.
    @Test func aPeerRestartedWhileADownloadSharedItsFileWritesItNoMore() async throws {
        let origin = TestOrigin(length: 4 << 20)
        let directory = try makeTemporaryDirectory() + "/cache"
        let part = try makePart(length: origin.content.length)
        let first = ByteRange(first: 0, last: (1 << 20) - 1)
        let second = ByteRange(first: 1 << 20, last: (2 << 20) - 1)
        try await withRestartedPeer(origin: origin, directory: directory) { run, h in
            if run == 1 {
                #expect(try await seed(h, offer(h, path: part, complete: false)).shared)
                _ = try await h.fetch(first)
                _ = try await h.fetch(first)
                #expect(try read(part, first) == h.expected(first))
            } else {
                let (_, body, _) = try await h.fetch(second)
                _ = try await h.fetch(second)
                #expect(body == h.expected(second))
                #expect(try read(part, second) == ByteBuffer(repeating: 0, count: Int(second.count)), "written after the restart")
                // Offered again (a resumed download), it is filled again.
                #expect(try await seed(h, offer(h, path: part, complete: false)).shared)
                let third = ByteRange(first: 2 << 20, last: (3 << 20) - 1)
                _ = try await h.fetch(third)
                _ = try await h.fetch(third)
                #expect(try read(part, third) == h.expected(third))
            }
        }
    }

    /// A verified file bigger than the cache's room keeps only the blocks the cache held, and
    /// the cache stays within its size.
    @Test func aVerifiedFileWithoutRoomKeepsOnlyWhatTheCacheHeld() async throws {
        try await withCachingPeer(capacity: 2 << 20) { h in
            let length = h.origin.content.length
            let share = ByteRange(first: 0, last: (1 << 20) - 1)
            let part = try makePart(length: length)
            #expect(try await seed(h, offer(h, path: part, complete: false)).shared)
            _ = try await h.fetch(share)
            _ = try await h.fetch(share)
            try write(h.expected(ByteRange(first: 1 << 20, last: length - 1)), to: part, at: 1 << 20)
            let sealed = try await seed(h, offer(h, path: part, complete: true))
            #expect(sealed.shared && sealed.storedBytes == share.count, "\(sealed)")
            let listing = try await h.client.execute(HTTPClientRequest(url: h.peerURL + "/v1/cache"), timeout: .seconds(10))
            let cached = try JSONDecoder().decode(PeerCacheAPI.Listing.self, from: Data(buffer: try await listing.body.collect(upTo: 1 << 20)))
            #expect(cached.storedBytes == share.count && cached.files.map(\.storedBytes) == [share.count], "\(cached)")
            #expect(cached.storedBytes <= cached.capacity)
        }
    }

    /// Only processes of the peer's own user may use the socket, even when its directory is
    /// opened to others: the kernel says who connected (SO_PEERCRED). The client, for its
    /// part, uses only a private socket of its own user's server.
    @Test func aProcessOfAnotherUserIsRefusedEvenWhenItReachesTheSocket() async throws {
        try await withCachingPeer { h in
            let socket = SeedAPI.socketPath(cacheDirectory: h.cacheDirectory)
            #expect(LocalSeeder.isThisUsersServer(socket) == nil)
            #expect(chmod(h.cacheDirectory + "/.seed", 0o755) == 0)
            #expect(LocalSeeder.isThisUsersServer(socket)?.contains("open to other users") == true)
            guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else { return }
            #expect(chmod(socket, 0o777) == 0)
            func status(as user: [String]) -> String {
                let process = Process()
                let output = Pipe()
                process.executableURL = URL(fileURLWithPath: user.isEmpty ? "/usr/bin/curl" : "/usr/bin/setpriv")
                process.arguments = user + (user.isEmpty ? [] : ["/usr/bin/curl"]) + ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", socket, "http://localhost/v1/seed"]
                process.standardOutput = output
                guard (try? process.run()) != nil else { return "not run" }
                process.waitUntilExit()
                return String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            }
            #expect(status(as: []) == "200", "this user")
            #expect(status(as: ["--reuid=65534", "--regid=65534", "--clear-groups"]) == "403", "another user")
        }
    }

    @Test func aSeededFileIsStillServedAfterARestart() async throws {
        let origin = TestOrigin(length: 4 << 20)
        let directory = try makeTemporaryDirectory() + "/cache"
        let file = try makePart(length: origin.content.length)
        try await withRestartedPeer(origin: origin, directory: directory) { run, h in
            let whole = ByteRange(first: 0, last: origin.content.length - 1)
            if run == 1 {
                try write(h.expected(whole), to: file, at: 0)
                let sealed = try await seed(h, offer(h, path: file, complete: true))
                #expect(sealed.shared)
            } else {
                let requests = origin.getRequests
                let (_, all, cached) = try await h.fetch(whole)
                #expect(all == h.expected(whole) && cached == origin.content.length)
                #expect(origin.getRequests == requests)
                #expect(linkCount(file) == 2)
            }
        }
    }
}
