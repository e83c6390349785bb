import Crypto
import DDLCore
import DDLServerSupport
import Foundation
import Hummingbird
import NIOCore
import NIOFoundationCompat

extension Tracker {
    /// `GET /`: the dashboard page. Served without the token: it holds no data, only the code
    /// that asks for the token and reads ``addEventStream(to:_:)``.
    static func addDashboardPage(to router: Router<DDLRequestContext>) {
        let page = DashboardPage.rendered
        router.get("/") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/html; charset=utf-8"
            headers[.contentSecurityPolicy] = page.contentSecurityPolicy
            headers[.cacheControl] = "no-cache"
            headers[HTTPFields.Element.Name("X-Content-Type-Options")!] = "nosniff"
            headers[HTTPFields.Element.Name("Referrer-Policy")!] = "no-referrer"
            headers[HTTPFields.Element.Name("X-Frame-Options")!] = "DENY"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page.html)))
        }
    }

    /// `GET /v1/events`: Server-Sent Events, one `snapshot` event (the dashboard's whole
    /// state as JSON) at once and after each change, at most one a second. Needs the token
    /// like every data route; the page reads it with `fetch`, which can send the header
    /// (`EventSource` cannot).
    static func addEventStream(to router: Router<DDLRequestContext>, _ parts: Parts) {
        router.get("/v1/events") { _, _ -> Response in
            guard let changes = parts.events.subscribe() else {
                var response = problem(.serviceUnavailable, type: "busy", "too many dashboards are open")
                response.headers[.retryAfter] = "5"
                return response
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/event-stream"
            headers[.cacheControl] = "no-store"
            headers[HTTPFields.Element.Name("X-Accel-Buffering")!] = "no"
            let body = ResponseBody { writer in
                for await _ in changes {
                    let snapshot = try await DashboardSnapshot.make(parts)
                    var event = ByteBuffer(string: "event: snapshot\ndata: ")
                    event.writeBytes(snapshot)
                    event.writeString("\n\n")
                    try await writer.write(event)
                    // Changes meanwhile wait in the stream's one-signal buffer: one update.
                    try await Task.sleep(for: .seconds(1))
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: headers, body: body)
        }
    }
}

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
    var bucketSeconds: Int64
    /// Rates in bytes per second, oldest bucket first.
    var throughput: [ThroughputHistory.Point]

    /// The snapshot as JSON (one line: no newline may end an SSE `data:` field early).
    static func make(_ parts: Tracker.Parts) async throws -> [UInt8] {
        let chart = await parts.activity.throughputPoints()
        let snapshot = DashboardSnapshot(
            time: ISO8601DateFormatter().string(from: Date()), ttl: parts.configuration.ttlSeconds,
            peerCount: await parts.registry.liveCount(), peers: await parts.registry.views(limit: parts.configuration.dashboardPeers),
            downloads: await parts.activity.recent(limit: 20), bucketSeconds: chart.bucketSeconds, throughput: chart.points)
        return Array(try JSONEncoder().encode(snapshot))
    }
}

extension DashboardPage {
    /// The page and the Content-Security-Policy that allows exactly its inline style and script.
    struct Rendered: Sendable {
        var html: String
        var contentSecurityPolicy: String
    }

    static let rendered: Rendered = {
        let html = "<!doctype html>\n<html lang=\"en\">\n<head>\n" + head + "<style>" + style + "</style>\n</head>\n<body>\n" + body
            + "<script>" + script + "</script>\n</body>\n</html>\n"
        func hash(_ text: String) -> String { "'sha256-" + Data(SHA256.hash(data: Data(text.utf8))).base64EncodedString() + "'" }
        let policy = "default-src 'none'; style-src \(hash(style)); script-src \(hash(script)); connect-src 'self'; img-src 'self' data:; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        return Rendered(html: html, contentSecurityPolicy: policy)
    }()
}
