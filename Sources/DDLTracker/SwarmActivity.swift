import DDLCore
import Foundation

/// What the swarm did recently: the last downloads clients reported, and the throughput
/// chart's history. Bounded whatever clients send.
public actor SwarmActivity {
    /// Most download reports kept.
    public let capacity: Int
    /// Counts over every report since the tracker started (not only the ones kept).
    public struct Totals: Codable, Sendable, Hashable {
        /// Reports received.
        public var downloads = 0
        /// Bytes of the downloads that succeeded.
        public var bytes: Int64 = 0
        /// Bytes of the downloads that succeeded that did not come from the origin.
        public var savedBytes: Int64 = 0

        public init(downloads: Int = 0, bytes: Int64 = 0, savedBytes: Int64 = 0) {
            self.downloads = downloads
            self.bytes = bytes
            self.savedBytes = savedBytes
        }
    }

    /// Oldest first.
    private var records: [TrackerAPI.DownloadRecord] = []
    /// Since the tracker started.
    public private(set) var totals = Totals()
    private var throughput = ThroughputHistory()

    public init(capacity: Int = 100) {
        self.capacity = max(1, capacity)
    }

    /// Keeps `report` (dropping the oldest past ``capacity``) and adds the bytes clients
    /// fetched over their own links to the chart, spread over the download's time.
    public func add(_ report: TrackerAPI.DownloadReport, client: String?, at now: Date = Date()) {
        records.append(TrackerAPI.DownloadRecord(report: report, reportedAt: ISO8601DateFormatter().string(from: now), client: client))
        if records.count > capacity { records.removeFirst(records.count - capacity) }
        totals.downloads += 1
        if report.result == "ok" {
            totals.bytes += report.bytes
            totals.savedBytes += max(0, report.bytes - report.originBytes)
        }
        let own = report.sources.filter { $0.kind != "peer" }.reduce(Int64(0)) { $0 + $1.bytes }
        throughput.add(own, from: now.addingTimeInterval(-report.seconds), to: now, series: .clients, now: now)
    }

    /// Adds bytes a peer served between two of its reports to the chart.
    public func add(_ served: PeerRegistry.ServedDelta) {
        throughput.add(served.bytes, from: served.from, to: served.to, series: .peers)
    }

    /// The most recent `limit` reports, newest first.
    public func recent(limit: Int = .max) -> [TrackerAPI.DownloadRecord] {
        Array(records.suffix(limit).reversed())
    }

    /// The chart: rates per bucket over the last minutes, oldest first.
    func throughputPoints() -> (bucketSeconds: Int64, points: [ThroughputHistory.Point]) {
        (throughput.bucketSeconds, throughput.points())
    }
}
