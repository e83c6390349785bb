import Foundation

/// Bytes moved in the swarm over the last minutes, in buckets of a few seconds, for the
/// dashboard's chart. Two series: bytes peers served, and bytes clients fetched over their
/// own links (from the origin or a mirror).
struct ThroughputHistory: Sendable {
    /// Which series bytes belong to.
    enum Series: Sendable {
        case peers
        case clients
    }

    /// One bucket: its start (seconds since 1970) and its rates in bytes per second.
    struct Point: Codable, Sendable, Hashable {
        var t: Int64
        var peers: Double
        var clients: Double
    }

    let bucketSeconds: Int64
    let span: Int64
    private var buckets: [Int64: (peers: Double, clients: Double)] = [:]

    /// - Parameters:
    ///   - bucketSeconds: width of a bucket.
    ///   - span: seconds kept.
    init(bucketSeconds: Int64 = 5, span: Int64 = 600) {
        self.bucketSeconds = max(1, bucketSeconds)
        self.span = max(self.bucketSeconds, span)
    }

    /// Adds `bytes` moved evenly between `from` and `to`. Parts older than the span are dropped.
    mutating func add(_ bytes: Int64, from: Date, to: Date, series: Series, now: Date = Date()) {
        guard bytes > 0 else { return }
        let end = to.timeIntervalSince1970
        let start = min(from.timeIntervalSince1970, end)
        let oldest = Double(bucketIndex(now.timeIntervalSince1970) - span)
        let duration = end - start
        if duration < 0.001 {
            if end >= oldest { put(Double(bytes), at: bucketIndex(end), series) }
        } else {
            var cursor = max(start, oldest)
            while cursor < end {
                let index = bucketIndex(cursor)
                let bucketEnd = min(Double(index + bucketSeconds), end)
                put(Double(bytes) * (bucketEnd - cursor) / duration, at: index, series)
                cursor = bucketEnd
            }
        }
        prune(before: Int64(oldest))
    }

    /// Every bucket of the span up to `now`, oldest first, as rates.
    func points(now: Date = Date()) -> [Point] {
        let last = bucketIndex(now.timeIntervalSince1970)
        return stride(from: last - span + bucketSeconds, through: last, by: Int(bucketSeconds)).map { index in
            let bucket = buckets[index] ?? (0, 0)
            return Point(t: index, peers: bucket.peers / Double(bucketSeconds), clients: bucket.clients / Double(bucketSeconds))
        }
    }

    private func bucketIndex(_ seconds: Double) -> Int64 {
        let whole = Int64(seconds.rounded(.down))
        return whole - ((whole % bucketSeconds) + bucketSeconds) % bucketSeconds
    }

    private mutating func put(_ bytes: Double, at index: Int64, _ series: Series) {
        var bucket = buckets[index] ?? (0, 0)
        switch series {
        case .peers: bucket.peers += bytes
        case .clients: bucket.clients += bytes
        }
        buckets[index] = bucket
    }

    private mutating func prune(before oldest: Int64) {
        guard buckets.count > Int(span / bucketSeconds) + 2 else { return }
        buckets = buckets.filter { $0.key >= oldest }
    }
}
