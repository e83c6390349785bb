/// An inclusive byte range `first...last`, as used by HTTP `Range` and `Content-Range`.
public struct ByteRange: Hashable, Sendable, CustomStringConvertible {
    /// Offset of the first byte.
    public var first: Int64
    /// Offset of the last byte (inclusive).
    public var last: Int64

    /// Creates a range; `first` must not exceed `last`.
    public init(first: Int64, last: Int64) {
        precondition(first >= 0 && first <= last, "invalid byte range \(first)-\(last)")
        self.first = first
        self.last = last
    }

    /// Number of bytes in the range.
    public var count: Int64 { last - first + 1 }

    /// The `Range` request header value, `bytes=first-last`.
    public var rangeHeader: String { "bytes=\(first)-\(last)" }

    /// The `Content-Range` header value for a resource of `total` bytes.
    public func contentRangeHeader(total: Int64?) -> String {
        "bytes \(first)-\(last)/\(total.map(String.init) ?? "*")"
    }

    public var description: String { "\(first)-\(last)" }

    /// The range cut into back-to-back ranges of `size` bytes (the last may be shorter).
    package func slices(of size: Int64) -> [ByteRange] {
        stride(from: first, through: last, by: Int(size)).map { ByteRange(first: $0, last: min($0 + size - 1, last)) }
    }

    /// The `size` bytes that start at `start`, moved inside this range (and cut to it when
    /// it is shorter).
    package func window(of size: Int64, at start: Int64) -> ByteRange {
        let first = max(self.first, min(start, last - size + 1))
        return ByteRange(first: first, last: min(first + size - 1, last))
    }

    /// Parses a `Range` request header strictly: exactly one `bytes=a-b` range with decimal,
    /// in-order offsets. Open-ended (`a-`) and suffix (`-n`) forms are resolved against
    /// `length` when it is known and rejected otherwise. Returns `nil` for anything else.
    public static func parseRangeHeader(_ value: String, length: Int64? = nil) -> ByteRange? {
        guard value.hasPrefix("bytes=") else { return nil }
        let spec = value.dropFirst("bytes=".count)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let lhs = spec[spec.startIndex..<dash]
        let rhs = spec[spec.index(after: dash)...]
        switch (lhs.isEmpty, rhs.isEmpty) {
        case (false, false):
            guard let a = parseOffset(lhs), let b = parseOffset(rhs), a <= b else { return nil }
            if let length {
                guard a < length else { return nil }
                return ByteRange(first: a, last: min(b, length - 1))
            }
            return ByteRange(first: a, last: b)
        case (false, true):
            guard let a = parseOffset(lhs), let length, a < length else { return nil }
            return ByteRange(first: a, last: length - 1)
        case (true, false):
            guard let n = parseOffset(rhs), n > 0, let length, length > 0 else { return nil }
            return ByteRange(first: max(0, length - n), last: length - 1)
        case (true, true):
            return nil
        }
    }

    /// Parses a non-negative decimal offset of at most 18 digits (so it fits in `Int64`).
    static func parseOffset(_ s: Substring) -> Int64? {
        guard !s.isEmpty, s.count <= 18, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int64(s)
    }
}

/// A parsed `Content-Range` response header: `bytes a-b/total`, `bytes a-b/*` or `bytes */total`.
public struct ContentRange: Hashable, Sendable {
    /// The range carried by the response, `nil` for the unsatisfied form `bytes */total`.
    public var range: ByteRange?
    /// The complete length of the resource, `nil` when the server sent `*`.
    public var total: Int64?

    public init(range: ByteRange?, total: Int64?) {
        self.range = range
        self.total = total
    }

    /// Parses strictly; returns `nil` for malformed values or a range past the total.
    public init?(_ value: String) {
        guard value.hasPrefix("bytes ") else { return nil }
        let spec = value.dropFirst("bytes ".count)
        guard let slash = spec.firstIndex(of: "/") else { return nil }
        let rangePart = spec[spec.startIndex..<slash]
        let totalPart = spec[spec.index(after: slash)...]
        var total: Int64?
        if totalPart != "*" {
            guard let t = ByteRange.parseOffset(totalPart) else { return nil }
            total = t
        }
        if rangePart == "*" {
            guard total != nil else { return nil }
            self.init(range: nil, total: total)
            return
        }
        guard let dash = rangePart.firstIndex(of: "-"),
              let a = ByteRange.parseOffset(rangePart[rangePart.startIndex..<dash]),
              let b = ByteRange.parseOffset(rangePart[rangePart.index(after: dash)...]),
              a <= b
        else { return nil }
        if let total, b >= total { return nil }
        self.init(range: ByteRange(first: a, last: b), total: total)
    }
}
