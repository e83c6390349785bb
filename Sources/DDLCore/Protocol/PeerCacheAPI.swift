/// Wire types of a peer's cache API, shared by the peer (`ddl server`) and its clients
/// (`ddl cache`, `ddl preheat`); see docs/http-api.md. Holdings: ``CacheHoldings``.
package enum PeerCacheAPI {
    /// One cached file in `GET /v1/cache`.
    package struct CachedFile: Codable, Sendable, Hashable {
        /// Identifies the file for `DELETE /v1/cache/{id}`.
        package var id: String
        /// The URL without its query string and user info.
        package var url: String
        /// The validator the bytes belong to (`ETag` or `Last-Modified`).
        package var validator: String
        /// The file's length, when known.
        package var length: Int64?
        /// Bytes of it stored.
        package var storedBytes: Int64
        /// Last use, in seconds since 1970.
        package var lastUse: Int64

        package init(id: String, url: String, validator: String, length: Int64?, storedBytes: Int64, lastUse: Int64) {
            self.id = id
            self.url = url
            self.validator = validator
            self.length = length
            self.storedBytes = storedBytes
            self.lastUse = lastUse
        }
    }

    /// The answer to `GET /v1/cache`: the cached files, most recently used first.
    package struct Listing: Codable, Sendable {
        package var files: [CachedFile]
        package var storedBytes: Int64
        package var capacity: Int64

        package init(files: [CachedFile], storedBytes: Int64, capacity: Int64) {
            self.files = files
            self.storedBytes = storedBytes
            self.capacity = capacity
        }
    }

    /// The answer to `DELETE /v1/cache` and `DELETE /v1/cache/{id}`.
    package struct Removal: Codable, Sendable {
        package var removed: Int

        package init(removed: Int) { self.removed = removed }
    }

    /// The answer to `POST /v1/preheat`.
    package struct PreheatResult: Codable, Sendable {
        /// Bytes of the range now in the cache.
        package var bytes: Int64
        /// Of those, bytes that were stored (or being fetched) before.
        package var cachedBefore: Int64

        package init(bytes: Int64, cachedBefore: Int64) {
            self.bytes = bytes
            self.cachedBefore = cachedBefore
        }
    }
}
