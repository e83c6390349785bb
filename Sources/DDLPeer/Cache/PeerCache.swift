import Crypto
import DDLCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The peer's cache of the ranges it fetched: on disk under ``Configuration/directory``,
/// bounded by ``Configuration/capacity`` (least recently used files go first) and
/// ``Configuration/maxAge``, kept across restarts.
///
/// Files are cached by ``CacheKey`` (the URL's identity and the validator) in 64 KiB blocks
/// (see ``BlockPlan``). Since the identity leaves signatures out, the cache serves stored
/// bytes of a signed URL only to a URL the origin accepted (``mayServe(_:url:)``).
/// The cache also runs single flight: a request for blocks that another request is fetching
/// waits for them instead of fetching them again.
///
/// The state sits behind one lock and changes in short critical sections; file I/O runs on
/// the blocking thread pool, outside the lock.
package final class PeerCache: Sendable {
    /// Settings of the cache.
    package struct Configuration: Sendable, Hashable {
        /// Where cached files live (one subdirectory each).
        package var directory: String
        /// Most bytes stored; past it, the least recently used files are removed.
        package var capacity: Int64 = 10 << 30
        /// Files unused for this long are removed.
        package var maxAge: Duration = .seconds(7 * 24 * 3600)
        /// Query parameters left out of keys besides the signing ones (see ``URLIdentity``).
        package var ignoredParameters: [String] = []

        package init(
            directory: String, capacity: Int64 = 10 << 30, maxAge: Duration = .seconds(7 * 24 * 3600), ignoredParameters: [String] = []
        ) {
            self.directory = directory
            self.capacity = capacity
            self.maxAge = maxAge
            self.ignoredParameters = ignoredParameters
        }
    }

    /// How many URLs the origin accepted are remembered per file (see ``accept(_:url:)``).
    static let acceptedURLsKept = 64

    struct Entry {
        let key: CacheKey
        var plan = BlockPlan()
        var file: CacheFile?
        var lastUse: Date
        /// Requests using the entry (it is not evicted meanwhile).
        var users = 0
        var waiters: [Int: [CheckedContinuation<Void, Never>]] = [:]
        var storedBytes: Int64 = 0
        /// Whether the origin served this version to a URL with nothing left out of its key
        /// (see ``URLIdentity``): its bytes are public, and any caller may have them.
        var open = false
        /// SHA-256 of the URLs (the whole URLs, signatures included) the origin answered for
        /// this version, newest last: callers with one of them may have the bytes.
        var accepted: [String] = []
    }

    struct State {
        var entries: [String: Entry] = [:]
        var storedBytes: Int64 = 0
    }

    package let configuration: Configuration
    let logger: Logger
    let state = Mutex(State())
    private let loaded = Eventually<Bool>()
    private let loadStarted = Atomic<Bool>(false)

    package init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Bytes stored now.
    package var storedBytes: Int64 { state.withLock { $0.storedBytes } }

    /// Loads what an earlier run stored, once (the first request waits for it).
    package func ready() async {
        if loadStarted.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            let found = (try? await NIOThreadPool.singleton.runIfActive { [configuration, logger] in
                Self.scan(configuration, logger: logger)
            }) ?? []
            state.withLock { state in
                for (file, stored) in found {
                    let key = file.meta.key
                    var entry = Entry(key: key, lastUse: file.lastUse())
                    entry.open = file.meta.open ?? false
                    entry.plan = BlockPlan(length: file.meta.length)
                    entry.plan.stored = stored
                    entry.file = file
                    entry.storedBytes = Self.bytes(of: stored, in: entry.plan)
                    state.storedBytes += entry.storedBytes
                    state.entries[key.id] = entry
                }
            }
            if !found.isEmpty {
                logger.info("cache loaded", metadata: ["files": "\(found.count)", "bytes": "\(storedBytes)", "directory": "\(configuration.directory)"])
            }
            await loaded.set(true)
        } else {
            _ = try? await loaded.wait()
        }
    }

    /// Reads the cache directory: every cached file still young enough, the one holding more
    /// blocks when two hold the same key; the rest is deleted. Each file's key is derived again
    /// from the URL its `meta.json` records, so that files stored by an earlier version under
    /// the whole URL (signature included), or under another `ignoredParameters`, move to their
    /// key now, and their `meta.json` is rewritten without what the key leaves out.
    static func scan(_ configuration: Configuration, logger: Logger) -> [(CacheFile, BlockSet)] {
        let manager = FileManager.default
        try? manager.createDirectory(atPath: configuration.directory, withIntermediateDirectories: true)
        let names = (try? manager.contentsOfDirectory(atPath: configuration.directory)) ?? []
        var byKey: [String: (CacheFile, BlockSet)] = [:]
        let oldest = Date().addingTimeInterval(-configuration.maxAge.seconds)
        for name in names.sorted() where !name.hasPrefix(".") {
            let directory = configuration.directory + "/" + name
            guard let (file, stored) = try? CacheFile.open(directory: directory, rekeying: { rekeyed($0, configuration) }),
                  file.lastUse() >= oldest
            else {
                logger.debug("cache: removing an unreadable or expired entry", metadata: ["directory": "\(directory)"])
                CacheFile.remove(directory: directory)
                continue
            }
            // A download's file that an earlier run held (see `PeerCache+Seeding.swift`) is
            // never written again: its download may have ended meanwhile.
            if file.meta.seed != nil { file.seal() }
            let id = file.meta.key.id
            if let other = byKey[id] {
                let keep = other.1.count >= stored.count ? other : (file, stored)
                CacheFile.remove(directory: keep.0 === file ? other.0.directory : directory)
                byKey[id] = keep
            } else {
                byKey[id] = (file, stored)
            }
        }
        return Array(byKey.values)
    }

    /// `meta` with its key derived from its URL as ``CacheKey/init(url:ifRange:ignoring:)``
    /// does, and, for a file stored by an earlier version (no ``CacheFile/Meta/open``), open
    /// when its URL left nothing out.
    static func rekeyed(_ meta: CacheFile.Meta, _ configuration: Configuration) -> CacheFile.Meta {
        var meta = meta
        let identity = URLIdentity(meta.key.url, ignoring: configuration.ignoredParameters)
        if meta.open == nil { meta.open = !identity.leftOutCredentials }
        meta.key.url = identity.url
        return meta
    }

    static func bytes(of stored: BlockSet, in plan: BlockPlan) -> Int64 {
        guard let length = plan.length, length > 0 else { return Int64(stored.count) * BlockPlan.blockSize }
        let lastBlock = BlockPlan.block(containing: length - 1)
        var bytes = Int64(stored.count) * BlockPlan.blockSize
        if stored.contains(lastBlock) { bytes -= BlockPlan.blockSize - plan.range(of: lastBlock)!.count }
        return bytes
    }
}

// MARK: - Requests

extension PeerCache {
    /// Starts using the entry for `key` (made when new); pair with ``end(_:)``.
    package func begin(_ key: CacheKey) {
        state.withLock { state in
            state.entries[key.id, default: Entry(key: key, lastUse: Date())].users += 1
            state.entries[key.id]!.lastUse = Date()
        }
    }

    /// The key of a request for `url` with `If-Range: ifRange`, or `nil` when its bytes must
    /// not be cached (see ``CacheKey/init(url:ifRange:ignoring:)``).
    package func key(url: String, ifRange: String?) -> CacheKey? {
        CacheKey(url: url, ifRange: ifRange, ignoring: configuration.ignoredParameters)
    }

    /// Whether a caller asking with `url` may be served `key`'s bytes that it did not fetch
    /// from the origin itself: the origin served the version to a URL with nothing left out of
    /// the key (the bytes are public), or it accepted `url` itself. The key leaves signatures
    /// out; without this, a swarm member could read a private object stored by someone
    /// else's signed URL with the URL alone.
    package func mayServe(_ key: CacheKey, url: String) -> Bool {
        let digest = Self.digest(of: url)
        return state.withLock { state in
            guard let entry = state.entries[key.id] else { return false }
            return entry.open || entry.accepted.contains(digest)
        }
    }

    /// Records that the origin answered `url` with `key`'s version (a `206` under its
    /// validator): callers with `url` may be served the stored bytes, and all callers when
    /// `url` has nothing that the key leaves out.
    package func accept(_ key: CacheKey, url: String) {
        let digest = Self.digest(of: url)
        let open = !URLIdentity(url, ignoring: configuration.ignoredParameters).leftOutCredentials
        state.withLock { state in
            guard var entry = state.entries[key.id] else { return }
            if open { entry.open = true }
            if !entry.accepted.contains(digest) {
                entry.accepted.append(digest)
                if entry.accepted.count > Self.acceptedURLsKept { entry.accepted.removeFirst() }
            }
            state.entries[key.id] = entry
        }
    }

    /// The SHA-256 of a URL, hex: what ``Entry/accepted`` keeps rather than the credential.
    static func digest(of url: String) -> String {
        SHA256.hexString(SHA256.hash(data: Data(url.utf8)))
    }

    /// Stops using the entry for `key`; an entry nobody uses and nothing was stored for is
    /// forgotten.
    package func end(_ key: CacheKey) {
        state.withLock { state in
            guard var entry = state.entries[key.id] else { return }
            entry.users -= 1
            if entry.users <= 0 && entry.file == nil && entry.plan.claimed.isEmpty {
                state.entries[key.id] = nil
            } else {
                state.entries[key.id] = entry
            }
        }
    }

    /// What the file is, when something of it is stored: its length, and the `ETag` and
    /// `Last-Modified` the origin sent.
    package func meta(_ key: CacheKey) -> CacheFile.Meta? {
        state.withLock { $0.entries[key.id]?.file?.meta }
    }

    /// The next segment of a request for `range` of `key`'s file, from `cursor` on, and the
    /// file to read a `.stored` segment from.
    package func next(_ key: CacheKey, from cursor: Int64, in range: ByteRange) -> (BlockPlan.Segment, CacheFile?, BlockPlan) {
        state.withLock { state in
            guard var entry = state.entries[key.id] else { return (.fetch(ByteRange(first: cursor, last: range.last), claim: 0..<0), nil, BlockPlan()) }
            let segment = entry.plan.next(from: cursor, in: range)
            entry.lastUse = Date()
            state.entries[key.id] = entry
            return (segment, entry.file, entry.plan)
        }
    }

    /// Waits until `block` of `key`'s file is stored or its fetch abandoned.
    package func wait(_ key: CacheKey, block: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waiting = state.withLock { state -> Bool in
                guard state.entries[key.id]?.plan.claimed.contains(block) == true else { return false }
                state.entries[key.id]!.waiters[block, default: []].append(continuation)
                return true
            }
            if !waiting { continuation.resume() }
        }
    }

    /// The file to store `key`'s blocks in, made on first use; `nil` when the origin's answer
    /// contradicts what is stored (another length under the same validator).
    package func file(for key: CacheKey, meta: CacheFile.Meta) async -> CacheFile? {
        let found = state.withLock { state -> (existing: CacheFile??, open: Bool) in
            guard let entry = state.entries[key.id] else { return (.some(nil), false) }
            if let file = entry.file { return (file.meta.length == meta.length ? file : .some(nil), entry.open) }
            if let length = entry.plan.length, length != meta.length { return (.some(nil), entry.open) }
            return (nil, entry.open)
        }
        if let existing = found.existing { return existing }
        var meta = meta
        meta.open = found.open
        let made = meta
        let directory = configuration.directory + "/" + key.id.prefix(32) + "." + String(UInt32.random(in: .min ... .max), radix: 16)
        let created: CacheFile
        do {
            created = try await NIOThreadPool.singleton.runIfActive { try CacheFile(creating: directory, meta: made) }
        } catch {
            logger.warning("cache: cannot create a cached file", metadata: ["directory": "\(directory)", "error": "\(error)"])
            return nil
        }
        let (file, loser) = state.withLock { state -> (CacheFile?, CacheFile?) in
            guard var entry = state.entries[key.id] else { return (nil, created) }
            if let file = entry.file { return (file, created) }
            entry.file = created
            entry.plan.length = meta.length
            state.entries[key.id] = entry
            return (created, nil)
        }
        if let loser {
            try? await NIOThreadPool.singleton.runIfActive { CacheFile.retire([loser]) }
        }
        return file
    }

    /// Stores `block` (its whole bytes in `bytes`) of `key`'s file and wakes the requests
    /// waiting for it. Without room (even after evicting unused files) or on a write error
    /// the block is abandoned instead. Returns whether it was stored.
    @discardableResult
    package func store(_ key: CacheKey, block: Int, bytes: ByteBuffer, in file: CacheFile) async -> Bool {
        let size = Int64(bytes.readableBytes)
        // A sealed file (a user's completed download) is never written: no room is made for
        // it. (`CacheFile.store` refuses it too, whatever seals it meanwhile.)
        guard !file.isSealed else {
            abandon(key, blocks: block..<block + 1)
            return false
        }
        let (room, evicted) = reserve(size, for: key)
        if !evicted.isEmpty {
            try? await NIOThreadPool.singleton.runIfActive { CacheFile.retire(evicted) }
        }
        guard room else {
            abandon(key, blocks: block..<block + 1)
            return false
        }
        do {
            // Refused by a sealed file (a user's completed download, or one no longer cached).
            guard try await NIOThreadPool.singleton.runIfActive({ try file.store(bytes, block: block) }) else {
                state.withLock { $0.storedBytes -= size }
                abandon(key, blocks: block..<block + 1)
                return false
            }
        } catch {
            logger.warning("cache: cannot store a block", metadata: ["directory": "\(file.directory)", "block": "\(block)", "error": "\(error)"])
            state.withLock { $0.storedBytes -= size }
            abandon(key, blocks: block..<block + 1)
            return false
        }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard var entry = state.entries[key.id], entry.file === file else {
                // Removed meanwhile (`ddl cache rm`): the bytes went to a deleted file.
                state.storedBytes -= size
                if state.entries[key.id]?.plan.claimed.contains(block) == true {
                    state.entries[key.id]!.plan.abandon(block)
                    return state.entries[key.id]!.waiters.removeValue(forKey: block) ?? []
                }
                return []
            }
            if entry.plan.stored.contains(block) {
                state.storedBytes -= size
            } else {
                entry.storedBytes += size
            }
            entry.plan.store(block)
            let waiters = entry.waiters.removeValue(forKey: block) ?? []
            state.entries[key.id] = entry
            return waiters
        }
        for waiter in waiters { waiter.resume() }
        return true
    }

    /// Releases claimed blocks that will not be stored, waking whoever waits for them.
    package func abandon(_ key: CacheKey, blocks: Range<Int>) {
        guard !blocks.isEmpty else { return }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard var entry = state.entries[key.id] else { return [] }
            var waiters: [CheckedContinuation<Void, Never>] = []
            for block in blocks where entry.plan.claimed.contains(block) {
                entry.plan.abandon(block)
                waiters += entry.waiters.removeValue(forKey: block) ?? []
            }
            state.entries[key.id] = entry
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Forgets a stored block whose bytes failed their digest.
    package func discard(_ key: CacheKey, block: Int) async {
        if state.withLock({ $0.entries[key.id]?.file?.isSealed == true }) {
            // A completed download's file changed (the user edited it): the cache lets it go
            // whole, and never writes the origin's bytes over the user's.
            logger.warning("cache: a seeded file changed on disk and is no longer served", metadata: ["url": "\(key.displayURL)", "block": "\(block)"])
            _ = await remove(id: key.id)
            return
        }
        let file = state.withLock { state -> CacheFile? in
            guard var entry = state.entries[key.id], entry.plan.stored.contains(block) else { return nil }
            let size = entry.plan.range(of: block)?.count ?? BlockPlan.blockSize
            entry.plan.discard(block)
            entry.storedBytes -= size
            state.storedBytes -= size
            state.entries[key.id] = entry
            return entry.file
        }
        logger.warning("cache: a stored block failed its checksum and is fetched again", metadata: ["url": "\(key.displayURL)", "block": "\(block)"])
        if let file { try? await NIOThreadPool.singleton.runIfActive { file.forget(block: block) } }
    }
}

extension PeerCache {
    /// Bytes of `range` stored or being fetched by other requests now.
    package func coverage(_ key: CacheKey, range: ByteRange) -> Int64 {
        state.withLock { state in
            guard let plan = state.entries[key.id]?.plan else { return 0 }
            var bytes: Int64 = 0
            var block = BlockPlan.block(containing: range.first)
            while Int64(block) * BlockPlan.blockSize <= range.last {
                if plan.stored.contains(block) || plan.claimed.contains(block), let blockBytes = plan.range(of: block) {
                    bytes += max(0, min(blockBytes.last, range.last) - max(blockBytes.first, range.first) + 1)
                }
                block += 1
            }
            return bytes
        }
    }
}

extension PeerCache {
    /// The byte ranges of `key`'s file stored now, merged, in order.
    package func holdings(_ key: CacheKey) async -> [ByteRange] {
        await ready()
        return state.withLock { state in
            guard let entry = state.entries[key.id], entry.file != nil, let length = entry.plan.length, length > 0 else { return [] }
            var ranges: [ByteRange] = []
            for block in 0...BlockPlan.block(containing: length - 1) where entry.plan.stored.contains(block) {
                let bytes = entry.plan.range(of: block)!
                if let last = ranges.last, last.last + 1 == bytes.first {
                    ranges[ranges.count - 1] = ByteRange(first: last.first, last: bytes.last)
                } else {
                    ranges.append(bytes)
                }
            }
            return ranges
        }
    }
}
