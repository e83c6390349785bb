#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Wire types of a peer's seed socket, through which a `ddl get` hands its download to the
/// `ddl server` of its own machine (see docs/cache.md, "Seeding"): a Unix socket in a
/// directory only the peer's user may enter, so that only a process of that user, which could
/// write the cache directory anyway, may name files for the peer to serve.
///
/// - `GET /v1/seed`: ``Info``, which peer this is.
/// - `POST /v1/seed` with an ``Offer``: the peer links the named file into its cache
///   (``Offer/complete`` false: the download's `.part` file, which the peer's own fetches for
///   that file then fill in place; true: the verified file, all of whose blocks it then
///   serves). Answer: ``Answer``.
package enum SeedAPI {
    /// The socket's path for a cache directory: `<cache_dir>/.seed/seed.sock`.
    package static func socketPath(cacheDirectory: String) -> String { cacheDirectory + "/.seed/seed.sock" }

    /// Longest socket path the system takes (`sun_path` holds 108 bytes with its NUL).
    package static let maxSocketPathBytes = 107

    /// The cache directory `ddl server` uses when none is configured:
    /// `$XDG_CACHE_HOME/ddl/peer-cache`, else `~/.cache/ddl/peer-cache`.
    package static func defaultCacheDirectory(environment: [String: String]) -> String {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return xdg + "/ddl/peer-cache" }
        var home = environment["HOME"] ?? ""
        if home.isEmpty, let entry = getpwuid(geteuid()), let directory = entry.pointee.pw_dir { home = String(cString: directory) }
        return home + "/.cache/ddl/peer-cache"
    }

    /// `GET /v1/seed`: the peer's TCP port, so a client can tell whether the socket belongs
    /// to the peer it fetches through.
    package struct Info: Codable, Sendable, Hashable {
        package var port: Int

        package init(port: Int) { self.port = port }
    }

    /// `POST /v1/seed`: a file of this machine's download.
    package struct Offer: Codable, Sendable, Hashable {
        /// The URL the origin answered (signature included: it travels only over the local
        /// socket, and the peer keeps only its digest).
        package var url: String
        /// The validator the download is pinned to (what `If-Range` carries).
        package var validator: String
        package var length: Int64
        package var etag: String?
        package var lastModified: String?
        /// Absolute path of the file: the `.part` file while downloading, the verified file
        /// once complete.
        package var path: String
        /// Whether the whole file is there and verified.
        package var complete: Bool
        /// Whether the complete file matched a digest its publisher (or the user) gave. Only
        /// then does the peer pass on the bytes other peers delivered; otherwise it serves
        /// only what it fetched from the origin itself (a cache spreads only what it trusts).
        package var verified: Bool?
        /// Answer only once the peer has read a complete file (tests; a client does not wait).
        package var wait: Bool?

        package init(url: String, validator: String, length: Int64, etag: String?, lastModified: String?, path: String, complete: Bool, verified: Bool? = nil, wait: Bool? = nil) {
            self.url = url
            self.validator = validator
            self.length = length
            self.etag = etag
            self.lastModified = lastModified
            self.path = path
            self.complete = complete
            self.verified = verified
            self.wait = wait
        }
    }

    /// The answer to an ``Offer``.
    package struct Answer: Codable, Sendable, Hashable {
        /// Whether the peer's cache now keeps the file's bytes in the offered file.
        package var shared: Bool
        /// Bytes of the file the peer serves now.
        package var storedBytes: Int64
        /// Why not, when not shared.
        package var reason: String?

        package init(shared: Bool, storedBytes: Int64, reason: String? = nil) {
            self.shared = shared
            self.storedBytes = storedBytes
            self.reason = reason
        }
    }
}
