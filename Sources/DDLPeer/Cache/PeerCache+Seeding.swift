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
/// - **Once complete and verified** (`complete` true), the file is linked in if it is not
///   already, every block's digest is recorded from its bytes, and the entry is **sealed**:
///   the peer serves any block of it and never writes it again. A copy the cache held of its
///   own is replaced by the link, so the disk holds the file once.
/// - A sealed file that changes (the user edits it) fails its blocks' digests when read: the
///   cache lets it go whole and fetches from the origin into a new file of its own.
///
/// The client is trusted as this peer's user: the socket admits no one else, and that user
/// could write the cache directory directly anyway.
extension PeerCache {
    /// Takes `offer` into the cache, or says why not.
    package func seed(_ offer: SeedAPI.Offer) async -> SeedAPI.Answer {
        await ready()
        guard let key = key(url: offer.url, ifRange: offer.validator) else {
            return SeedAPI.Answer(shared: false, storedBytes: 0, reason: "the file has no strong validator, so it is not cached")
        }
        guard offer.length > 0 else { return SeedAPI.Answer(shared: false, storedBytes: 0, reason: "the file is empty") }
        do {
            let stored = try await take(offer, key: key)
            accept(key, url: offer.url)
            logger.info("cache: seeding a download of this machine", metadata: [
                "url": "\(key.displayURL)", "complete": "\(offer.complete)", "storedBytes": "\(stored)",
            ])
            return SeedAPI.Answer(shared: true, storedBytes: stored)
        } catch {
            logger.info("cache: not seeding a download of this machine", metadata: ["url": "\(key.displayURL)", "reason": "\(error)"])
            return SeedAPI.Answer(shared: false, storedBytes: state.withLock { $0.entries[key.id]?.storedBytes ?? 0 }, reason: error.description)
        }
    }

    /// What the cache holds of the file now, as seen under the lock.
    private enum Holding {
        /// Nothing stored in a file of the cache's own.
        case nothing
        /// `data` is the offered file.
        case offered(CacheFile)
        /// A file of the cache's own; `busy` when fetches into it are running.
        case own(CacheFile, busy: Bool)
    }

    private func take(_ offer: SeedAPI.Offer, key: CacheKey) async throws(SeedRefusal) -> Int64 {
        let current = state.withLock { state -> CacheFile? in state.entries[key.id]?.file }
        var holding = Holding.nothing
        if let current {
            let same = (try? await NIOThreadPool.singleton.runIfActive { current.isSameFile(as: offer.path) }) ?? false
            if same {
                holding = .offered(current)
            } else {
                let busy = state.withLock { !($0.entries[key.id]?.plan.claimed.isEmpty ?? true) }
                holding = .own(current, busy: busy)
            }
        }
        switch holding {
        case let .offered(file):
            guard offer.complete else {
                // A resumed download: its `.part` is this file already.
                setSeed(.sharing, of: key, file: file)
                return state.withLock { $0.entries[key.id]?.storedBytes ?? 0 }
            }
            return try await seal(file, key: key)
        case let .own(_, busy):
            guard offer.complete else {
                throw SeedRefusal("the cache holds bytes of this file in a copy of its own; it takes the file once the download is complete")
            }
            guard !busy else { throw SeedRefusal("the cache is fetching bytes of this file into a copy of its own") }
            return try await link(offer, key: key, replacing: true)
        case .nothing:
            return try await link(offer, key: key, replacing: false)
        }
    }

    /// Links the offered file in as the entry's file (instead of the cache's own copy when
    /// `replacing`), sealed and digested when complete.
    private func link(_ offer: SeedAPI.Offer, key: CacheKey, replacing: Bool) async throws(SeedRefusal) -> Int64 {
        let meta = CacheFile.Meta(
            key: key, length: offer.length, lastModified: offer.lastModified, etag: offer.etag,
            open: !URLIdentity(offer.url, ignoring: configuration.ignoredParameters).leftOutCredentials,
            seed: offer.complete ? .sealed : .sharing)
        let directory = configuration.directory + "/" + key.id.prefix(32) + "." + String(UInt32.random(in: .min ... .max), radix: 16)
        let made: (CacheFile, BlockSet)
        do {
            // (A typed-throws closure here crashes the Swift 6.3.1 compiler: plain `throws`.)
            made = try await NIOThreadPool.singleton.runIfActive { () throws -> (CacheFile, BlockSet) in
                let file = try CacheFile(linking: offer.path, into: directory, meta: meta)
                guard offer.complete else { return (file, BlockSet()) }
                do {
                    return (file, try file.digestAll(length: offer.length))
                } catch {
                    CacheFile.remove(directory: directory)
                    throw SeedRefusal("cannot read \(offer.path): \(error)")
                }
            }
        } catch let refusal as SeedRefusal {
            throw refusal
        } catch {
            throw SeedRefusal("the peer is shutting down")
        }
        let (file, stored) = made
        let bytes = Self.bytes(of: stored, in: BlockPlan(length: offer.length))
        let previous = state.withLock { $0.entries[key.id]?.storedBytes ?? 0 }
        let (room, evicted) = reserve(bytes - previous, for: key)
        var replaced: CacheFile?
        let installed = room && state.withLock { state -> Bool in
            var entry = state.entries[key.id] ?? Entry(key: key, lastUse: Date())
            if replacing {
                guard let own = entry.file, entry.plan.claimed.isEmpty else { return false }
                replaced = own
            } else {
                guard entry.file == nil else { return false }
            }
            entry.file = file
            entry.plan.length = offer.length
            entry.plan.stored = stored
            state.storedBytes += entry.storedBytes == previous ? 0 : previous - entry.storedBytes
            entry.storedBytes = bytes
            entry.seed = meta.seed
            entry.lastUse = Date()
            state.entries[key.id] = entry
            return true
        }
        if room && !installed { state.withLock { $0.storedBytes -= bytes - previous } }
        let removed = evicted.map(\.directory) + (installed ? replaced.map { [$0.directory] } ?? [] : [directory])
        if !removed.isEmpty {
            try? await NIOThreadPool.singleton.runIfActive { for directory in removed { CacheFile.remove(directory: directory) } }
        }
        guard room else { throw SeedRefusal("the cache has no room for the file (cache_size)") }
        guard installed else { throw SeedRefusal("the cache began fetching this file meanwhile") }
        return bytes
    }

    /// Seals the entry whose `data` is the complete, verified file: records every block's
    /// digest from its bytes; the peer then serves them all and never writes the file again.
    private func seal(_ file: CacheFile, key: CacheKey) async throws(SeedRefusal) -> Int64 {
        setSeed(.sealed, of: key, file: file)
        let length = file.meta.length
        let stored: BlockSet
        do {
            stored = try await NIOThreadPool.singleton.runIfActive {
                var meta = file.meta
                meta.seed = .sealed
                try CacheFile.write(meta, in: file.directory)
                return try file.digestAll(length: length)
            }
        } catch {
            throw SeedRefusal("cannot read the file to seal it: \(error)")
        }
        let bytes = Self.bytes(of: stored, in: BlockPlan(length: length))
        let previous = state.withLock { $0.entries[key.id]?.storedBytes ?? 0 }
        let (_, evicted) = reserve(bytes - previous, for: key)
        if !evicted.isEmpty {
            try? await NIOThreadPool.singleton.runIfActive { for file in evicted { CacheFile.remove(directory: file.directory) } }
        }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard var entry = state.entries[key.id], entry.file === file else { return [] }
            entry.plan.stored = stored
            entry.plan.claimed = []
            entry.storedBytes = bytes
            let waiters = entry.waiters.values.flatMap { $0 }
            entry.waiters = [:]
            state.entries[key.id] = entry
            return waiters
        }
        for waiter in waiters { waiter.resume() }
        return bytes
    }

    private func setSeed(_ seed: CacheFile.Meta.Seed, of key: CacheKey, file: CacheFile) {
        state.withLock { state in
            guard state.entries[key.id]?.file === file else { return }
            state.entries[key.id]!.seed = seed
        }
    }
}
