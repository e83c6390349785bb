/// What a probe learned about the file on the origin.
package struct RemoteFile: Sendable, Hashable {
    /// The URL after redirects; every later request uses it.
    package var url: String
    /// Length in bytes, when the origin said.
    package var length: Int64?
    /// Whether the origin serves byte ranges.
    package var acceptsRanges: Bool
    /// The entity tag, when sent.
    package var etag: String?
    /// `Last-Modified`, when sent.
    package var lastModified: String?
    /// File name suggested by `Content-Disposition` or the URL path (unsanitized).
    package var suggestedName: String?
    /// Digests of the whole file that the probe's answers stated in their headers
    /// (`Repr-Digest` and the like; see ``DigestHeaders``), in the order they were read.
    package var publishedDigests: [PublishedDigest] = []

    package init(url: String, length: Int64?, acceptsRanges: Bool, etag: String?, lastModified: String?, suggestedName: String?) {
        self.url = url
        self.length = length
        self.acceptsRanges = acceptsRanges
        self.etag = etag
        self.lastModified = lastModified
        self.suggestedName = suggestedName
    }

    /// The validator for `If-Range`: a strong ETag, else `Last-Modified`.
    package var ifRangeValidator: String? {
        if let etag, !etag.hasPrefix("W/") { return etag }
        return lastModified
    }

    /// Whether pieces can be fetched in parallel.
    package var supportsSegmentedDownload: Bool { acceptsRanges && (length ?? 0) > 0 }
}

extension RemoteFile {
    /// Why `self` may not be the same file as `other` (another length, `ETag` or, without
    /// one, `Last-Modified`), or `nil` when nothing says so.
    package func differences(from other: RemoteFile) -> String? {
        if length != other.length { return "its length changed from \(other.length.map(String.init) ?? "unknown") to \(length.map(String.init) ?? "unknown") bytes" }
        if let a = other.etag, let b = etag, a != b { return "its ETag changed from \(a) to \(b)" }
        if other.etag == nil || etag == nil, let a = other.lastModified, let b = lastModified, a != b {
            return "its Last-Modified changed from \(a) to \(b)"
        }
        return nil
    }
}
