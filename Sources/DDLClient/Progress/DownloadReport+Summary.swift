import DDLCore
import Foundation

extension TrackerAPI.DownloadReport {
    /// The report of a download that finished.
    public init(summary: DownloadSummary, givenURL: String) {
        let sources = summary.sources.filter { $0.bytes > 0 }.map { share in
            Source(name: share.source, kind: Self.kind(ofSource: share.source), bytes: share.bytes)
        }
        // A peer's bytes from its cache (or a fetch another client started) did not cross the
        // internet again for this download.
        let originBytes = summary.sources.filter { Self.isFromOrigin($0.source) }.reduce(Int64(0)) { $0 + $1.bytes - $1.cachedBytes }
        self.init(
            url: Self.redact(givenURL), file: URL(fileURLWithPath: summary.path).lastPathComponent, bytes: summary.bytes, seconds: summary.seconds,
            result: "ok", mode: summary.mode, sources: sources, originBytes: originBytes)
    }

    /// The report of a download that failed after `seconds`.
    public init(error: DownloadError, givenURL: String, seconds: Double) {
        self.init(url: Self.redact(givenURL), file: nil, bytes: 0, seconds: seconds, result: Self.result(of: error), mode: nil, sources: [], originBytes: 0)
    }

    /// The `result` for a failure: the kind of its exit code.
    static func result(of error: DownloadError) -> String {
        switch error {
        case .usage: "usage"
        case .network: "network"
        case .origin: "origin"
        case .integrity, .changed: "integrity"
        case .localIO: "io"
        case .interrupted: "interrupted"
        }
    }

    /// `origin` for this machine's own fetches (source `self`), `mirror` for a mirror,
    /// `peer` for a peer (whether it relays the origin or a mirror).
    static func kind(ofSource name: String) -> String {
        if name.hasPrefix("peer ") { return "peer" }
        if name.hasPrefix("mirror ") { return "mirror" }
        return "origin"
    }

    /// Whether a source's bytes came from the origin server: this machine's own fetches and
    /// peers relaying the origin (`peer HOST:PORT`), not mirrors or peers relaying a mirror
    /// (`peer HOST:PORT via MIRROR`).
    static func isFromOrigin(_ name: String) -> Bool {
        switch kind(ofSource: name) {
        case "origin": true
        case "peer": !name.contains(" via ")
        default: false
        }
    }
}
