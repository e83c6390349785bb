import DDLCore
import DDLServerSupport
import Foundation
import Hummingbird

extension Tracker {
    /// `POST /v1/downloads` (a client's report) and `GET /v1/downloads` (the recent ones).
    static func addDownloadRoutes(to router: Router<DDLRequestContext>, _ parts: Parts) {
        let downloads = router.group("/v1/downloads")
        downloads.post { request, context -> Response in
            let report: TrackerAPI.DownloadReport
            do {
                report = try await request.decode(as: TrackerAPI.DownloadReport.self, context: context)
            } catch {
                return problem(.badRequest, type: "bad-request", "expected a JSON download report")
            }
            if let refusal = report.refusal {
                return problem(.badRequest, type: "bad-report", refusal)
            }
            await parts.activity.add(report, client: context.remoteAddress?.ipAddress)
            parts.metrics.reported(report)
            parts.events.changed()
            return Response(status: .noContent)
        }
        downloads.get { _, _ -> Response in
            try jsonResponse(TrackerAPI.DownloadList(downloads: await parts.activity.recent()), status: .ok)
        }
    }
}

extension TrackerAPI.DownloadReport {
    /// Why the tracker refuses this report, or `nil`: the values it keeps and shows are
    /// bounded (lengths, counts, label values).
    var refusal: String? {
        if url.isEmpty || url.utf8.count > 2048 { return "url must be 1 to 2048 bytes" }
        if url.contains("?") || url.contains("#") { return "url must come without query string and fragment" }
        if let file, file.utf8.count > 255 { return "file must be at most 255 bytes" }
        if !Self.results.contains(result) { return "result must be one of \(Self.results.sorted().joined(separator: ", "))" }
        if let mode, mode.utf8.count > 16 { return "mode must be at most 16 bytes" }
        if sources.count > 64 { return "at most 64 sources" }
        for source in sources {
            if !Self.kinds.contains(source.kind) { return "a source's kind must be one of \(Self.kinds.sorted().joined(separator: ", "))" }
            if source.name.isEmpty || source.name.utf8.count > 300 { return "a source's name must be 1 to 300 bytes" }
            if source.bytes < 0 { return "a source's bytes must not be negative" }
        }
        if bytes < 0 || originBytes < 0 { return "bytes must not be negative" }
        if !seconds.isFinite || seconds < 0 || seconds > 366 * 86400 { return "seconds must be between 0 and a year" }
        return nil
    }
}
