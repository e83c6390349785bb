import Crypto
import DDLCore
import Foundation
import NIOCore
import SystemPackage
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One cached file on disk: a directory holding `meta.json` (what the file is), `data` (the
/// bytes, sparse, each block at its offset) and `digests` (the SHA-256 of each stored block in
/// a fixed 32-byte slot; an all-zero slot is a block not stored).
///
/// A block's bytes are written before its digest, so a crash in between leaves the block
/// unstored; bytes lost or damaged on disk after that fail their digest when read, and the
/// block is fetched again. Nothing of a file is held in memory but a bitmap of its blocks.
///
/// Every method blocks: call them on the thread pool (``PeerCache`` does). The descriptors
/// close when the last reference goes, so a reader keeps an evicted file readable until it
/// is done.
package final class CacheFile: Sendable {
    package struct Meta: Codable, Sendable, Hashable {
        package var key: CacheKey
        package var length: Int64
        package var lastModified: String?
        package var etag: String?
        /// Whether the origin served this version to a URL with nothing left out of the key
        /// when the file was made (see ``PeerCache/mayServe(_:url:)``); absent in files stored
        /// before keys left signatures out.
        package var open: Bool?
        /// Set when `data` is a file of this machine's download, linked in (see
        /// `PeerCache+Seeding.swift`).
        package var seed: Seed?

        /// How a file of this machine's download is held.
        package enum Seed: String, Codable, Sendable, Hashable {
            /// The download runs: the peer's own fetches of the file fill it in place.
            case sharing
            /// The download is complete and verified: every block is stored, and the peer
            /// never writes the file again (it belongs to the user now).
            case sealed
        }

        package init(key: CacheKey, length: Int64, lastModified: String?, etag: String?, open: Bool? = nil, seed: Seed? = nil) {
            self.key = key
            self.length = length
            self.lastModified = lastModified
            self.etag = etag
            self.open = open
            self.seed = seed
        }
    }

    static let digestSize = 32
    package let directory: String
    package let meta: Meta
    private let data: SystemPackage.FileDescriptor
    private let digests: SystemPackage.FileDescriptor
    /// Who may write `data`, held across every write (see ``seal()``).
    private let writes = Mutex(Writes())
    /// ``Writes/sealed``, readable without waiting for a write (set under `writes`).
    private let sealedFlag = Atomic<Bool>(false)

    struct Writes {
        /// No write may start: the file belongs to a user's completed download, or left the
        /// cache.
        var sealed = false
        /// A running download's `.part` that `data` is linked to: writes go on only while
        /// this path still names `data` (not once the download renamed it).
        var sharedPath: String?
    }

    /// Creates the file in `directory` (a new directory), writing `meta`.
    package convenience init(creating directory: String, meta: Meta) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.write(meta, in: directory)
        try self.init(opening: directory, meta: meta)
    }

    /// Writes `meta.json` in `directory` whole or not at all (a temporary file renamed).
    static func write(_ meta: Meta, in directory: String) throws {
        let encoded = try JSONEncoder().encode(meta)
        let temporary = directory + "/meta.json.tmp"
        try encoded.write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, directory + "/meta.json") == 0 else { throw Errno(rawValue: errno) }
    }

    private init(opening directory: String, meta: Meta) throws {
        self.directory = directory
        self.meta = meta
        // Never through a symbolic link planted in the directory.
        data = try SystemPackage.FileDescriptor.open(FilePath(directory + "/data"), .readWrite, options: [.create, .noFollow, .closeOnExec], permissions: [.ownerReadWrite])
        do {
            digests = try SystemPackage.FileDescriptor.open(FilePath(directory + "/digests"), .readWrite, options: [.create, .noFollow, .closeOnExec], permissions: [.ownerReadWrite])
        } catch {
            try? data.close()
            throw error
        }
    }

    deinit {
        try? data.close()
        try? digests.close()
    }

    /// Opens the cached file in `directory` and returns it with the blocks it holds. Its
    /// `meta.json` is passed through `rekeying` first, and written again when that changes it.
    package static func open(directory: String, rekeying: (Meta) -> Meta = { $0 }) throws -> (file: CacheFile, stored: BlockSet) {
        let found = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/meta.json")))
        let meta = rekeying(found)
        if meta != found { try write(meta, in: directory) }
        let file = try CacheFile(opening: directory, meta: meta)
        var stored = BlockSet()
        var slots = [UInt8](repeating: 0, count: 1 << 16)
        var offset: Int64 = 0
        while true {
            let n = try slots.withUnsafeMutableBytes { try file.digests.read(fromAbsoluteOffset: offset, into: $0) }
            if n == 0 { break }
            for slot in stride(from: 0, to: n - digestSize + 1, by: digestSize) where slots[slot..<slot + digestSize].contains(where: { $0 != 0 }) {
                stored.insert(Int(offset) / digestSize + slot / digestSize)
            }
            offset += Int64(n - n % digestSize)
        }
        return (file, stored)
    }

    /// Writes a block's bytes at its offset, then its digest in its slot; returns `false`
    /// without writing when the file is sealed (or its shared download moved on, which seals
    /// it).
    package func store(_ bytes: ByteBuffer, block: Int) throws -> Bool {
        let digest = bytes.withUnsafeReadableBytes { SHA256.hash(data: $0) }
        return try writes.withLock { writes in
            if !writes.sealed, let path = writes.sharedPath, !isSameFile(as: path) {
                writes.sealed = true
                sealedFlag.store(true, ordering: .releasing)
            }
            guard !writes.sealed else { return false }
            _ = try bytes.withUnsafeReadableBytes { try data.writeAll(toAbsoluteOffset: Int64(block) * BlockPlan.blockSize, $0) }
            _ = try digest.withUnsafeBytes { try digests.writeAll(toAbsoluteOffset: Int64(block * Self.digestSize), $0) }
            return true
        }
    }

    /// Stops every write for good: once this returns, no write is running and none starts.
    /// Blocks while a write runs: call it on the thread pool.
    package func seal() {
        writes.withLock { writes in
            writes.sealed = true
            sealedFlag.store(true, ordering: .releasing)
        }
    }

    /// Whether the file takes no more writes (see ``seal()``): a user's completed download, a
    /// shared `.part` the download renamed, or a file no longer cached.
    package var isSealed: Bool { sealedFlag.load(ordering: .acquiring) }

    /// Lets the cache write `data` while `path` (a running download's `.part`) names it.
    package func share(while path: String) {
        writes.withLock { writes in
            writes.sealed = false
            writes.sharedPath = path
            sealedFlag.store(false, ordering: .releasing)
        }
    }

    /// Seals `files` (they leave the cache) and deletes their directories. Blocking.
    package static func retire(_ files: [CacheFile]) {
        for file in files {
            file.seal()
            remove(directory: file.directory)
        }
    }

    /// `data`'s modification time.
    package func modificationTime() -> timespec? {
        var info = stat()
        return fstat(data.rawValue, &info) == 0 ? info.st_mtim : nil
    }

    /// Clears a block's digest slot (its bytes failed their check).
    package func forget(block: Int) {
        let zeros = [UInt8](repeating: 0, count: Self.digestSize)
        _ = try? zeros.withUnsafeBytes { try digests.writeAll(toAbsoluteOffset: Int64(block * Self.digestSize), $0) }
    }

    /// Reads `range`, which lies inside the stored blocks `blocks`, checking every block
    /// against its digest. Returns the bytes, or the first block that does not match.
    package func read(_ range: ByteRange, blocks: ClosedRange<Int>, layout: BlockPlan) throws -> Result<ByteBuffer, CorruptBlock> {
        guard let firstBytes = layout.range(of: blocks.lowerBound), let lastBytes = layout.range(of: blocks.upperBound) else {
            return .failure(CorruptBlock(block: blocks.lowerBound))
        }
        let span = ByteRange(first: firstBytes.first, last: lastBytes.last)
        var slots = [UInt8](repeating: 0, count: blocks.count * Self.digestSize)
        let slotBytes = try slots.withUnsafeMutableBytes { try digests.read(fromAbsoluteOffset: Int64(blocks.lowerBound * Self.digestSize), into: $0) }
        var buffer = ByteBufferAllocator().buffer(capacity: Int(span.count))
        let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(span.count)) { pointer in
            var done = 0
            while done < Int(span.count) {
                let n = try data.read(fromAbsoluteOffset: span.first + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: pointer[done..<Int(span.count)]))
                if n == 0 { break }
                done += n
            }
            return done
        }
        for (i, block) in blocks.enumerated() {
            let bytes = layout.range(of: block)!
            let offset = Int(bytes.first - span.first)
            let slot = i * Self.digestSize
            guard offset + Int(bytes.count) <= read, slot + Self.digestSize <= slotBytes,
                  let slice = buffer.getSlice(at: offset, length: Int(bytes.count))
            else { return .failure(CorruptBlock(block: block)) }
            let digest = slice.withUnsafeReadableBytes { SHA256.hash(data: $0) }
            guard digest.elementsEqual(slots[slot..<slot + Self.digestSize]) else { return .failure(CorruptBlock(block: block)) }
        }
        _ = futimens(digests.rawValue, nil)
        return .success(buffer.getSlice(at: Int(range.first - span.first), length: Int(range.count))!)
    }

    /// Creates the file in `directory` (a new directory) around `source`, a file of this
    /// machine's download of `meta`'s file: `data` is a hard link to it, so that both names
    /// share one copy of the bytes. `source` must be a regular file (not a symbolic link) of
    /// this process's user, of `meta.length` bytes, on the cache's file system.
    package convenience init(linking source: String, into directory: String, meta: Meta) throws(SeedRefusal) {
        var info = stat()
        guard source.hasPrefix("/"), lstat(source, &info) == 0 else { throw SeedRefusal("\(source) is not an absolute path to an existing file") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw SeedRefusal("\(source) is not a regular file") }
        // The file checked is the file linked: opened without following a link, checked
        // through the descriptor, linked through it.
        let fd = Glibc.open(source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SeedRefusal("cannot open \(source): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw SeedRefusal("\(source) is not a regular file") }
        guard info.st_uid == geteuid() else { throw SeedRefusal("\(source) belongs to another user") }
        guard Int64(info.st_size) == meta.length else { throw SeedRefusal("\(source) has \(info.st_size) bytes, not \(meta.length)") }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw SeedRefusal("cannot create \(directory): \(error)")
        }
        guard linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, directory + "/data", AT_SYMLINK_FOLLOW) == 0 else {
            let code = errno
            Self.remove(directory: directory)
            throw SeedRefusal(code == EXDEV
                ? "\(source) is on another file system than the cache (\(directory)): it cannot be linked"
                : "cannot link \(source) into the cache: \(String(cString: strerror(code)))")
        }
        do {
            try Self.write(meta, in: directory)
            try self.init(opening: directory, meta: meta)
        } catch {
            Self.remove(directory: directory)
            throw SeedRefusal("cannot make a cached file in \(directory): \(error)")
        }
        // The link is the file that was checked (not one swapped in meanwhile).
        guard isSameFile(as: info) else {
            Self.remove(directory: directory)
            throw SeedRefusal("\(source) changed while it was being linked")
        }
    }

    /// Whether `data` is the file at `path` (the same inode), not following a final link.
    package func isSameFile(as path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && isSameFile(as: info)
    }

    private func isSameFile(as info: stat) -> Bool {
        var mine = stat()
        return fstat(data.rawValue, &mine) == 0 && mine.st_dev == info.st_dev && mine.st_ino == info.st_ino
    }

    /// Takes the digests of `blocks` from `other` (the cache's own copy of the same file)
    /// where this file's bytes match them; returns those blocks. Blocking.
    package func adoptDigests(from other: CacheFile, blocks: BlockSet, length: Int64) throws -> BlockSet {
        var adopted = BlockSet()
        guard length > 0 else { return adopted }
        var slot = [UInt8](repeating: 0, count: Self.digestSize)
        var bytes = [UInt8](repeating: 0, count: Int(BlockPlan.blockSize))
        for block in 0...BlockPlan.block(containing: length - 1) where blocks.contains(block) {
            let offset = Int64(block) * BlockPlan.blockSize
            let size = Int(min(BlockPlan.blockSize, length - offset))
            let n = try slot.withUnsafeMutableBytes { try other.digests.read(fromAbsoluteOffset: Int64(block * Self.digestSize), into: $0) }
            let read = try bytes.withUnsafeMutableBytes { try data.read(fromAbsoluteOffset: offset, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<size])) }
            guard n == Self.digestSize, read == size, SHA256.hash(data: bytes[0..<size]).elementsEqual(slot) else { continue }
            _ = try slot.withUnsafeBytes { try digests.writeAll(toAbsoluteOffset: Int64(block * Self.digestSize), $0) }
            adopted.insert(block)
        }
        return adopted
    }

    /// Reads the first `length` bytes of `data` and records the digest of every block but
    /// those in `skipping`, as if each had been stored (the bytes are already there: a
    /// verified download's). Returns the blocks recorded.
    package func digestAll(length: Int64, skipping: BlockSet = BlockSet()) throws -> BlockSet {
        var stored = BlockSet()
        let blockSize = Int(BlockPlan.blockSize)
        let run = 16
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize * run, alignment: 16)
        defer { buffer.deallocate() }
        var slots = [UInt8](repeating: 0, count: run * Self.digestSize)
        var block = 0
        while Int64(block) * BlockPlan.blockSize < length {
            let first = Int64(block) * BlockPlan.blockSize
            let want = Int(min(Int64(blockSize * run), length - first))
            var done = 0
            while done < want {
                let n = try data.read(fromAbsoluteOffset: first + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: buffer[done..<want]))
                guard n > 0 else { throw SeedRefusal("the file ended at offset \(first + Int64(done)), before \(length)") }
                done += n
            }
            let blocks = (want + blockSize - 1) / blockSize
            // Slots of skipped blocks are written back as they are.
            for i in slots.indices { slots[i] = 0 }
            _ = try slots.withUnsafeMutableBytes { try digests.read(fromAbsoluteOffset: Int64(block * Self.digestSize), into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<(blocks * Self.digestSize)])) }
            for i in 0..<blocks where !skipping.contains(block + i) {
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[(i * blockSize)..<min(want, (i + 1) * blockSize)])
                let digest = SHA256.hash(data: bytes)
                slots.replaceSubrange((i * Self.digestSize)..<((i + 1) * Self.digestSize), with: Array(digest))
                stored.insert(block + i)
            }
            _ = try slots.withUnsafeBytes { try digests.writeAll(toAbsoluteOffset: Int64(block * Self.digestSize), UnsafeRawBufferPointer(rebasing: $0[0..<(blocks * Self.digestSize)])) }
            block += blocks
        }
        return stored
    }

    /// When the file was last used (its digests' modification time, set by every read and
    /// store), for least-recently-used eviction after a restart.
    package func lastUse() -> Date {
        var info = stat()
        guard fstat(digests.rawValue, &info) == 0 else { return Date() }
        return Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec))
    }

    /// Deletes a cached file's directory.
    package static func remove(directory: String) {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Why a peer does not take a file of this machine's download into its cache (see
/// ``PeerCache/seed(_:)``).
package struct SeedRefusal: Error, Sendable, CustomStringConvertible {
    package let description: String

    package init(_ description: String) { self.description = description }
}

/// A stored block whose bytes no longer match the digest recorded when it was stored.
package struct CorruptBlock: Error, Sendable {
    package let block: Int
}

extension SHA256 {
    /// Lowercase hex of `bytes`.
    package static func hexString(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
