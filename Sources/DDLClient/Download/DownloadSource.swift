import DDLCore

/// Where a piece comes from: the origin directly, or a peer server that fetches it.
public enum DownloadSource: Sendable, Hashable {
    /// This machine, straight from the origin.
    case direct
    /// A peer server at `host:port`.
    case peer(host: String, port: Int, name: String?)

    /// Stable identifier used by the scheduler and in summaries.
    public var id: String {
        switch self {
        case .direct: "self"
        case let .peer(host, port, _): "peer \(host.contains(":") ? "[\(host)]" : host):\(port)"
        }
    }

    /// The request URL for `fileURL` from this source.
    func requestURL(for fileURL: String) -> String {
        switch self {
        case .direct:
            return fileURL
        case let .peer(host, port, _):
            let authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            return "http://\(authority)/v1/fetch?url=\(fileURL.addingPathPercentEncoding())"
        }
    }
}
