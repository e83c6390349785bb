import CDDLSystem
import Crypto
import DDLCore
import NIOCore
import NIOPosix
import SystemPackage
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The `<file>.part` being filled in place: pieces are written at their offsets as they
/// stream in (`pwrite`), then the file is synced and renamed to its final name.
package final class PartFile: Sendable {
    /// Path of the `.part` file.
    package let path: String
    private let descriptor: SystemPackage.FileDescriptor
    private let closed = Atomic<Bool>(false)

    /// Creates `path` (a new file, unless `keepContents`, for a resumed download) and sizes
    /// it to `length` when known. Refuses to follow a symbolic link planted at `path`.
    ///
    /// A file already at `path` is unlinked rather than truncated: this machine's peer may
    /// hold it as a cached file (a hard link, see ``LocalSeeder``), whose bytes must not
    /// change under it.
    package init(creating path: String, length: Int64?, keepContents: Bool = false) throws(DownloadError) {
        self.path = path
        if !keepContents, unlink(path) != 0, errno != ENOENT {
            throw .localIO("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
        do {
            descriptor = try SystemPackage.FileDescriptor.open(
                SystemPackage.FilePath(path), .readWrite, options: keepContents ? [.create, .noFollow, .closeOnExec] : [.create, .exclusiveCreate, .noFollow, .closeOnExec],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw .localIO("cannot create \(path): \(error)")
        }
        if let length, length > 0 {
            guard ftruncate(descriptor.rawValue, off_t(length)) == 0 else {
                let reason = String(cString: strerror(errno))
                try? descriptor.close()
                throw .localIO("cannot size \(path) to \(length) bytes: \(reason)")
            }
        }
    }

    /// Writes `buffer` at `offset`. Called from tasks, never from an event loop.
    package func write(_ buffer: ByteBuffer, at offset: Int64) throws(DownloadError) {
        do {
            _ = try buffer.withUnsafeReadableBytes { bytes in
                try descriptor.writeAll(toAbsoluteOffset: offset, bytes)
            }
        } catch {
            var hint = ""
            if let errno = error as? Errno, errno == .noSpace || errno == .diskQuotaExceeded || errno == .fileTooLarge {
                hint = "; free some space and run the same command again to resume"
            }
            throw .localIO("cannot write \(path) at offset \(offset): \(error)\(hint)")
        }
    }

    /// Starts writing `range` to disk without waiting for it (Linux `sync_file_range`), so
    /// that the final ``sync()`` has little left to flush and dirty pages do not pile up.
    /// Blocking (it can wait for the device's queue): call it on the thread pool. A failure
    /// is harmless, since ``sync()`` still runs, and so is ignored.
    func startWriteback(_ range: ByteRange) {
        _ = cddl_start_writeback(descriptor.rawValue, range.first, range.count)
    }

    /// Flushes to disk, on the blocking thread pool. `dataOnly` (`fdatasync`) skips metadata
    /// that reading the data back does not need, such as the modification time.
    package func sync(dataOnly: Bool = false) async throws(DownloadError) {
        let fd = descriptor.rawValue
        let path = self.path
        do {
            try await NIOThreadPool.singleton.runIfActive {
                guard (dataOnly ? fdatasync(fd) : fsync(fd)) == 0 else { throw DownloadError.localIO("cannot sync \(path): \(String(cString: strerror(errno)))") }
            }
        } catch let error as DownloadError {
            throw error
        } catch {
            throw .localIO("cannot sync \(path): \(error)")
        }
    }

    /// SHA-256 of the file's contents (unless `sha256` is false) and, when asked, a second
    /// digest, computed in one pass reading the file back on the blocking thread pool; with
    /// nothing to compute the file is not read.
    func digests(sha256: Bool, extra: ExpectedChecksum.Algorithm?) async throws(DownloadError) -> Digests {
        try await hash(from: 0, through: nil, sha256: sha256, extra: extra)
    }

    /// SHA-256 of the bytes in `range`, read back on the blocking thread pool.
    package func sha256(of range: ByteRange) async throws(DownloadError) -> String {
        try await hash(from: range.first, through: range.last, sha256: true, extra: nil).sha256!
    }

    private func hash(from first: Int64, through last: Int64?, sha256: Bool, extra: ExpectedChecksum.Algorithm?) async throws(DownloadError) -> Digests {
        let empty = DigestSet(sha256: sha256, extra: extra)
        if empty.isEmpty { return empty.finalize() }
        do {
            return try await NIOThreadPool.singleton.runIfActive {
                var digests = empty
                // A spot check reads 256 KiB: its buffer need not be bigger.
                let size = last.map { Int(min(1 << 20, max(1, $0 + 1 - first))) } ?? 1 << 20
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
                defer { buffer.deallocate() }
                try self.read(from: first, through: last, into: buffer) { digests.update($0) }
                return digests.finalize()
            }
        } catch let error as DownloadError {
            throw error
        } catch {
            throw .localIO("cannot read back \(path): \(error)")
        }
    }

    /// Reads `range` through `buffer`, handing each chunk to `body`. Blocking: call it on
    /// the thread pool.
    func read(_ range: ByteRange, into buffer: UnsafeMutableRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) throws {
        try read(from: range.first, through: range.last, into: buffer, body)
    }

    /// Reads from `first` through `last` (to the end of the file when `nil`; a file shorter
    /// than `last` is an error).
    private func read(from first: Int64, through last: Int64?, into buffer: UnsafeMutableRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) throws {
        var offset = first
        while last.map({ offset <= $0 }) ?? true {
            let want = last.map { Int(min(Int64(buffer.count), $0 + 1 - offset)) } ?? buffer.count
            let n = try descriptor.read(fromAbsoluteOffset: offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
            if n == 0 {
                guard let last else { return }
                throw DownloadError.localIO("\(path) ended at offset \(offset), before \(last + 1)")
            }
            body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += Int64(n)
        }
    }

    /// Deletes the `.part` file.
    package func remove() {
        unlink(path)
    }

    /// Closes the file (once; later calls do nothing).
    package func close() {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        try? descriptor.close()
    }

    /// Renames the `.part` file to `finalPath`; with `overwrite` false, refuses when
    /// something already exists there.
    package func moveToFinal(_ finalPath: String, overwrite: Bool) throws(DownloadError) {
        if !overwrite && FileSystemChecks.exists(finalPath) {
            throw .localIO("\(finalPath) already exists; use --overwrite to replace it (the download is kept at \(path))")
        }
        guard rename(path, finalPath) == 0 else {
            throw .localIO("cannot rename \(path) to \(finalPath): \(String(cString: strerror(errno)))")
        }
    }
}

/// Small file-system checks.
package enum FileSystemChecks {
    /// Whether anything (file, directory, link, even a dangling one) exists at `path`.
    package static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Whether `path` is a regular file (not following a final symbolic link).
    package static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Whether `path` is an existing directory.
    package static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal.
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
