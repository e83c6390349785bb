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
