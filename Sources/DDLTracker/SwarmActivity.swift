import DDLCore
import Foundation

/// What the swarm did recently: the last downloads clients reported, and the throughput
/// chart's history. Bounded whatever clients send.
public actor SwarmActivity {
    /// Most download reports kept.
    public let capacity: Int
    /// Oldest first.
    private var records: [TrackerAPI.DownloadRecord] = []
    private var throughput = ThroughputHistory()

    public init(capacity: Int = 100) {
        self.capacity = max(1, capacity)
    }

    /// Keeps `report` (dropping the oldest past ``capacity``) and adds the bytes clients
    /// fetched over their own links to the chart, spread over the download's time.
    public func add(_ report: TrackerAPI.DownloadReport, client: String?, at now: Date = Date()) {
        records.append(TrackerAPI.DownloadRecord(report: report, reportedAt: ISO8601DateFormatter().string(from: now), client: client))
        if records.count > capacity { records.removeFirst(records.count - capacity) }
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
