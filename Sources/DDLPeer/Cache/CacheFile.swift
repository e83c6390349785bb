import Crypto
import DDLCore
import Foundation
import NIOCore
import SystemPackage

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

        package init(key: CacheKey, length: Int64, lastModified: String?, etag: String?, open: Bool? = nil) {
            self.key = key
            self.length = length
            self.lastModified = lastModified
            self.etag = etag
            self.open = open
        }
    }

    static let digestSize = 32
    package let directory: String
    package let meta: Meta
    private let data: SystemPackage.FileDescriptor
    private let digests: SystemPackage.FileDescriptor

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
        data = try SystemPackage.FileDescriptor.open(FilePath(directory + "/data"), .readWrite, options: [.create, .closeOnExec], permissions: [.ownerReadWrite])
        do {
            digests = try SystemPackage.FileDescriptor.open(FilePath(directory + "/digests"), .readWrite, options: [.create, .closeOnExec], permissions: [.ownerReadWrite])
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

    /// Writes a block's bytes at its offset, then its digest in its slot.
    package func store(_ bytes: ByteBuffer, block: Int) throws {
        let digest = bytes.withUnsafeReadableBytes { SHA256.hash(data: $0) }
        _ = try bytes.withUnsafeReadableBytes { try data.writeAll(toAbsoluteOffset: Int64(block) * BlockPlan.blockSize, $0) }
        _ = try digest.withUnsafeBytes { try digests.writeAll(toAbsoluteOffset: Int64(block * Self.digestSize), $0) }
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
