import DDLCore
import Foundation

/// The dashboard's state: what one `snapshot` event carries.
struct DashboardSnapshot: Encodable {
    /// The tracker's clock, ISO 8601 (the page shows "last seen" relative to it).
    var time: String
    var ttl: Int
    /// Live peers; ``peers`` lists at most `dashboardPeers` of them.
    var peerCount: Int
    var peers: [PeerRegistry.PeerView]
    /// The most recent reports, newest first.
    var downloads: [TrackerAPI.DownloadRecord]
    /// Over every report since the tracker started.
    var totals: SwarmActivity.Totals
    var bucketSeconds: Int64
    /// Rates in bytes per second, oldest bucket first.
    var throughput: [ThroughputHistory.Point]

    /// The snapshot as JSON (one line: no newline may end an SSE `data:` field early).
    static func make(_ parts: Tracker.Parts) async throws -> [UInt8] {
        let chart = await parts.activity.throughputPoints()
        let snapshot = DashboardSnapshot(
            time: ISO8601DateFormatter().string(from: Date()), ttl: parts.configuration.ttlSeconds,
            peerCount: await parts.registry.liveCount(), peers: await parts.registry.views(limit: parts.configuration.dashboardPeers),
            downloads: await parts.activity.recent(limit: 20), totals: await parts.activity.totals, bucketSeconds: chart.bucketSeconds, throughput: chart.points)
        return Array(try JSONEncoder().encode(snapshot))
    }
}
