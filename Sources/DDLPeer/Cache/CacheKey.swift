import Crypto
import DDLCore
import Foundation

/// What a cached file is stored under: the identity of the URL a client asked for (see
/// ``URLIdentity``: the URL without signing parameters, user info and fragment) and the
/// validator it sent in `If-Range` (a strong `ETag` or a `Last-Modified` date). The origin
/// answers a ranged request with `If-Range` with `206` only while that validator still holds,
/// so bytes stored under a key are bytes of exactly that version; a new version has a new key
/// and misses. The same object presigned again has the same key.
package struct CacheKey: Sendable, Hashable, Codable {
    /// The URL's identity (what `meta.json` records: never a signature).
    package var url: String
    package var validator: String

    /// The key of `url`, taken as an identity already.
    package init(url: String, validator: String) {
        self.url = url
        self.validator = validator
    }

    /// The key for a fetch of `url` (its identity, leaving out `ignoring` too), or `nil` when
    /// its bytes must not be cached: no validator, or a weak `ETag` (`W/…`), which an origin
    /// may keep across changes of the bytes.
    package init?(url: String, ifRange: String?, ignoring: [String] = []) {
        guard let ifRange, !ifRange.isEmpty, !ifRange.hasPrefix("W/") else { return nil }
        self.init(url: URLIdentity(url, ignoring: ignoring).url, validator: ifRange)
    }

    /// Whether the validator is an entity tag (else a date).
    package var validatorIsETag: Bool { validator.hasPrefix("\"") }

    /// A stable file-system-safe name: the SHA-256 of the key, hex.
    package var id: String {
        var hasher = SHA256()
        hasher.update(data: Data(url.utf8))
        hasher.update(data: Data([0]))
        hasher.update(data: Data(validator.utf8))
        return SHA256.hexString(hasher.finalize())
    }

    /// The URL without its query string and user info, for listings and logs: a parameter
    /// kept in the identity may be a credential of a kind ddl does not know.
    package var displayURL: String { TrackerAPI.DownloadReport.redact(url) }
}
