import Foundation
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An exclusive lock on a cache directory (`flock` on `.lock` in it), held as long as the
/// object lives: two peers sharing a directory would delete each other's files.
package final class CacheDirectoryLock: Sendable {
    private let descriptor: Mutex<Int32?>

    /// Creates the directory if needed and locks it, or throws saying who holds it.
    package init(directory: String) throws(PeerServer.StartError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .cacheDirectory("cannot create the cache directory \(directory): \(error.localizedDescription); set another with --cache-dir, or --no-cache")
        }
        let fd = open(directory + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw .cacheDirectory("cannot open \(directory)/.lock: \(String(cString: strerror(errno))); set another directory with --cache-dir, or --no-cache")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw .cacheDirectory("the cache directory \(directory) is in use by another ddl server; give each server its own with --cache-dir (config key cache_dir)")
        }
        descriptor = Mutex(fd)
    }

    /// Releases the lock (once).
    package func unlock() {
        descriptor.withLock { fd in
            if let open = fd { close(open) }
            fd = nil
        }
    }

    deinit { unlock() }
}

/// Holds a cache directory's lock while the peer's service group runs, and releases it when
/// the group shuts down (not whenever the last reference happens to go).
struct CacheDirectoryLockLifetime: Service {
    let lock: CacheDirectoryLock

    func run() async throws {
        try? await gracefulShutdown()
        lock.unlock()
    }
}
