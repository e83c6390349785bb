import DDLCore
import Foundation
import NIOPosix

/// Seeding: a `ddl get` on this machine hands its download to this peer through the seed
/// socket (see ``SeedAPI``), so that the swarm can fetch the file here while it downloads and
/// after, without the file being stored twice on this machine.
///
/// - **While it downloads** (``SeedAPI/Offer/complete`` false), the `.part` file becomes the
///   cached file's `data` (a hard link): the blocks this peer fetches from the origin, for
///   that client or any other, are written into the download's own file, where the client
///   writes the same bytes at the same offsets. Only when the cache holds nothing of the file
///   in a copy of its own yet.
/// - **Once complete and verified** (`complete` true), the entry is **sealed** at once (the
///   peer never writes the file again) and the file linked in if it is not already; then,
///   after the answer (``SealWork``, run by the seed socket's service one at a time, so a
///   client never waits for it), the peer reads the file and records the digest of every
///   block it did not store itself, and serves them all from then on. A copy the cache held
///   of its own is replaced by the link once the file is read, so the disk holds the file
///   once.
/// - A sealed file that changes (the user edits it) fails its blocks' digests when read: the
///   cache lets it go whole and fetches from the origin into a new file of its own.
///
/// The client is trusted as this peer's user: the socket admits no one else, and that user
/// could write the cache directory directly anyway.
extension PeerCache {
    /// The slow part of taking a complete file (reading it whole to record its blocks'
    /// digests), run after the answer.
    package typealias SealWork = @Sendable () async -> Void

    /// Takes `offer` into the cache, or says why not. Reading a complete file is handed to
    /// `later` unless the offer asks to ``SeedAPI/Offer/wait`` for it.
    package func seed(_ offer: SeedAPI.Offer, later: @Sendable (@escaping SealWork) -> Void = { _ in }) async -> SeedAPI.Answer {
        await ready()
        guard let key = key(url: offer.url, ifRange: offer.validator) else {
            return SeedAPI.Answer(shared: false, storedBytes: 0, reason: "the file has no strong validator, so it is not cached")
        }
        guard offer.length > 0 else { return SeedAPI.Answer(shared: false, storedBytes: 0, reason: "the file is empty") }
        do {
            let work = try await take(offer, key: key)
            accept(key, url: offer.url)
            logger.info("cache: seeding a download of this machine", metadata: ["url": "\(key.displayURL)", "complete": "\(offer.complete)"])
            if let work {
                if offer.wait == true { await work() } else { later(work) }
            }
            return SeedAPI.Answer(shared: true, storedBytes: state.withLock { $0.entries[key.id]?.storedBytes ?? 0 })
        } catch {
            logger.info("cache: not seeding a download of this machine", metadata: ["url": "\(key.displayURL)", "reason": "\(error)"])
            return SeedAPI.Answer(shared: false, storedBytes: state.withLock { $0.entries[key.id]?.storedBytes ?? 0 }, reason: error.description)
        }
    }

    /// What the cache holds of the file now.
    private enum Holding {
        /// Nothing stored in a file of the cache's own.
        case nothing
        /// `data` is the offered file.
        case offered(CacheFile)
        /// A file of the cache's own.
        case own(CacheFile)
    }

    /// Takes the offered file in; returns the work left for a complete one.
    private func take(_ offer: SeedAPI.Offer, key: CacheKey) async throws(SeedRefusal) -> SealWork? {
        let current = state.withLock { state -> CacheFile? in state.entries[key.id]?.file }
        var holding = Holding.nothing
        if let current {
            let same = (try? await NIOThreadPool.singleton.runIfActive { current.isSameFile(as: offer.path) }) ?? false
            if same {
                holding = .offered(current)
            } else {
                holding = .own(current)
            }
        }
        switch holding {
        case let .offered(file):
            guard offer.complete else {
                // A resumed download: its `.part` is this file already.
                try await run("") { file.share(while: offer.path) }
                return nil
            }
            // Sealed now: once `seal()` returns, no write runs and none starts, whatever the
            // reading finds.
            let modified = try await run("cannot seal \(offer.path)") { () throws -> timespec? in
                file.seal()
                var meta = file.meta
                meta.seed = .sealed
                try CacheFile.write(meta, in: file.directory)
                return file.modificationTime()
            }
            // Not verified against a digest: the peer goes on serving only what it stored.
            guard offer.verified == true else {
                let stored = state.withLock { $0.entries[key.id]?.storedBytes ?? 0 }
                logger.info("cache: a seeded file is served where this peer fetched it", metadata: ["url": "\(key.displayURL)", "bytes": "\(stored)"])
                return nil
            }
            return { [self] in await self.record(file, key: key, modified: modified, replacing: false, readRest: true) }
        case .own:
            guard offer.complete else {
                throw SeedRefusal("the cache holds bytes of this file in a copy of its own; it takes the file once the download is complete")
            }
            // The cache's copy serves on until the file has its blocks' digests, then the file
            // replaces it.
            let (file, modified) = try await link(offer, key: key)
            return { [self] in await self.record(file, key: key, modified: modified, replacing: true, readRest: offer.verified == true) }
        case .nothing:
            guard offer.verified == true || !offer.complete else {
                throw SeedRefusal("the file was not verified against a digest, and the peer passes on only bytes it fetched itself (none of this file)")
            }
            let (file, modified) = try await link(offer, key: key)
            let installed = state.withLock { state -> Bool in
                var entry = state.entries[key.id] ?? Entry(key: key, lastUse: Date())
                guard entry.file == nil else { return false }
                entry.file = file
                entry.plan.length = offer.length
                entry.lastUse = Date()
                state.entries[key.id] = entry
                return true
            }
            guard installed else {
                try? await run("") { CacheFile.retire([file]) }
                throw SeedRefusal("the cache began fetching this file meanwhile")
            }
            guard offer.complete else { return nil }
            return { [self] in await self.record(file, key: key, modified: modified, replacing: false, readRest: true) }
        }
    }

    /// Links the offered file into a new directory of the cache (not installed): writable
    /// while the `.part` path names it, sealed when complete. Returns it with its
    /// modification time.
    private func link(_ offer: SeedAPI.Offer, key: CacheKey) async throws(SeedRefusal) -> (CacheFile, timespec?) {
        let meta = CacheFile.Meta(
            key: key, length: offer.length, lastModified: offer.lastModified, etag: offer.etag,
            open: !URLIdentity(offer.url, ignoring: configuration.ignoredParameters).leftOutCredentials,
            seed: offer.complete ? .sealed : .sharing)
        let directory = configuration.directory + "/" + key.id.prefix(32) + "." + String(UInt32.random(in: .min ... .max), radix: 16)
        return try await run("cannot link \(offer.path)") { () throws -> (CacheFile, timespec?) in
            let file = try CacheFile(linking: offer.path, into: directory, meta: meta)
            if offer.complete { file.seal() } else { file.share(while: offer.path) }
            return (file, file.modificationTime())
        }
    }

    /// Gives the complete, sealed `file` its blocks' digests: those of the blocks the cache
    /// stored itself (in `file`, or in its own copy when `replacing`, where `file`'s bytes
    /// match them), and, when `readRest` (the file matched a digest), every other block's,
    /// read from the file. Then `file` serves them, in place of the entry's own copy when
    /// `replacing`. Nothing is recorded when the file changed since it was offered
    /// (`modified`): the user may be changing it.
    private func record(_ file: CacheFile, key: CacheKey, modified: timespec?, replacing: Bool, readRest: Bool) async {
        let length = file.meta.length
        if replacing {
            // Fetches into the cache's copy that are running finish first (each claimed block
            // is stored or abandoned), so that their blocks are taken over too; new ones may
            // start meanwhile, so at most so many waits.
            for _ in 0..<64 {
                guard let block = state.withLock({ $0.entries[key.id]?.plan.claimed.min() }) else { break }
                await wait(key, block: block)
            }
        }
        let (stored, own) = state.withLock { state -> (BlockSet, CacheFile?) in
            let entry = state.entries[key.id]
            return (entry?.plan.stored ?? BlockSet(), replacing ? entry?.file : nil)
        }
        let found: (kept: BlockSet, read: BlockSet, unchanged: Bool)
        do {
            found = try await run("") {
                let kept = try own.map { try file.adoptDigests(from: $0, blocks: stored, length: length) } ?? stored
                let read = readRest ? try file.digestAll(length: length, skipping: kept) : BlockSet()
                let now = file.modificationTime()
                return (kept, read, now?.tv_sec == modified?.tv_sec && now?.tv_nsec == modified?.tv_nsec)
            }
        } catch {
            logger.warning("cache: cannot read a seeded file", metadata: ["url": "\(key.displayURL)", "error": "\(error)"])
            if replacing { try? await run("") { CacheFile.retire([file]) } }
            return
        }
        guard found.unchanged else {
            logger.warning("cache: a seeded file changed while it was read; not served from it", metadata: ["url": "\(key.displayURL)"])
            if replacing { try? await run("") { CacheFile.retire([file]) } } else { _ = await remove(id: key.id) }
            return
        }
        // Every block recorded now: read here, or stored by the cache before.
        var all = BlockSet()
        for block in 0...BlockPlan.block(containing: length - 1) where found.read.contains(block) || found.kept.contains(block) { all.insert(block) }
        var bytes = Self.bytes(of: all, in: BlockPlan(length: length))
        let previous = state.withLock { $0.entries[key.id]?.storedBytes ?? 0 }
        let (room, evicted) = reserve(bytes - previous, for: key)
        if !room {
            // No room for all of it: only what the cache held before.
            all = found.kept
            bytes = Self.bytes(of: all, in: BlockPlan(length: length))
        }
        var replaced: CacheFile?
        let (installed, waiters) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            guard var entry = state.entries[key.id] else { return (false, []) }
            if replacing {
                // Fetches still running into the copy store nothing once it is replaced (it is
                // sealed below); whoever waits for their blocks is woken and served anew.
                guard let current = entry.file, current === own else { return (false, []) }
                replaced = current
                entry.file = file
            } else {
                guard entry.file === file else { return (false, []) }
            }
            entry.plan.length = length
            entry.plan.stored = all
            entry.plan.claimed = []
            // The reservation counted `bytes - previous`; what changes is `bytes - now`.
            state.storedBytes += room ? previous - entry.storedBytes : bytes - entry.storedBytes
            entry.storedBytes = bytes
            let waiters = entry.waiters.values.flatMap { $0 }
            entry.waiters = [:]
            state.entries[key.id] = entry
            return (true, waiters)
        }
        if room && !installed { state.withLock { $0.storedBytes -= bytes - previous } }
        for waiter in waiters { waiter.resume() }
        let retired = evicted + (installed ? replaced.map { [$0] } ?? [] : (replacing ? [file] : []))
        if !retired.isEmpty { try? await run("") { CacheFile.retire(retired) } }
        if installed {
            logger.info(all.count > found.kept.count ? "cache: a seeded file is served whole" : "cache: a seeded file is served where this peer fetched it", metadata: [
                "url": "\(key.displayURL)", "bytes": "\(bytes)", "room": "\(room)",
            ])
        } else {
            logger.info("cache: a seeded file changed hands while it was read; not served from it", metadata: ["url": "\(key.displayURL)"])
        }
    }

    /// Runs blocking file work on the thread pool; a failure is a refusal saying `what`.
    private func run<T: Sendable>(_ what: String, _ body: @escaping @Sendable () throws -> T) async throws(SeedRefusal) -> T {
        do {
            return try await NIOThreadPool.singleton.runIfActive(body)
        } catch let refusal as SeedRefusal {
            throw refusal
        } catch {
            throw SeedRefusal("\(what): \(error)")
        }
    }
}
