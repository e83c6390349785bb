import Foundation

extension TrackerAPI {
    /// Optional body of `PUT /v1/peers/{id}` (heartbeat): what the peer has done since it
    /// started. The tracker shows it on its dashboard; a heartbeat without a body is valid.
    public struct PeerStatus: Codable, Sendable, Hashable {
        /// Body bytes streamed to clients.
        public var servedBytes: Int64
        /// Fetches in progress.
        public var activeFetches: Int

        public init(servedBytes: Int64, activeFetches: Int) {
            self.servedBytes = servedBytes
            self.activeFetches = activeFetches
        }
    }

    /// `POST /v1/downloads` body: what a finished (or failed) `ddl get` reports to the tracker.
    public struct DownloadReport: Codable, Sendable, Hashable {
        /// One source's share of the bytes.
        public struct Source: Codable, Sendable, Hashable {
            /// The source as the client names it: `self`, `peer HOST:PORT`, `mirror HOST:PORT`,
            /// `peer HOST:PORT via HOST:PORT`.
            public var name: String
            /// `origin` (the client fetched from the origin itself), `peer` or `mirror`.
            public var kind: String
            /// Bytes received from it (spot checks included).
            public var bytes: Int64

            public init(name: String, kind: String, bytes: Int64) {
                self.name = name
                self.kind = kind
                self.bytes = bytes
            }
        }

        /// The URL as given, without user info, query string or fragment.
        public var url: String
        /// The file's name (no directory).
        public var file: String?
        /// Size of the file in bytes (`0` when a failure left it unknown).
        public var bytes: Int64
        /// Seconds from start to end.
        public var seconds: Double
        /// `ok`, or why it failed: `network`, `origin`, `integrity`, `io`, `usage`, `interrupted`.
        public var result: String
        /// `swarm`, `direct` or `single` (absent when the download failed).
        public var mode: String?
        /// Bytes per source.
        public var sources: [Source]
        /// Bytes that came from the origin server itself, over any link (the client's own
        /// fetches and the peers' relayed ones); the rest came from mirrors and the peers'
        /// caches.
        public var originBytes: Int64

        public init(url: String, file: String?, bytes: Int64, seconds: Double, result: String, mode: String?, sources: [Source], originBytes: Int64) {
            self.url = url
            self.file = file
            self.bytes = bytes
            self.seconds = seconds
            self.result = result
            self.mode = mode
            self.sources = sources
            self.originBytes = originBytes
        }

        /// The results a report may carry (a bounded set: they become metric labels).
        public static let results: Set<String> = ["ok", "network", "origin", "integrity", "io", "usage", "interrupted"]
        /// The source kinds a report may carry.
        public static let kinds: Set<String> = ["origin", "peer", "mirror"]

        /// `url` without user info, query string and fragment (they may hold credentials,
        /// e.g. a presigned URL's signature).
        public static func redact(_ url: String) -> String {
            // The identity has no user info nor fragment; what is left of its query goes too.
            String(URLIdentity(url).url.prefix { $0 != "?" })
        }
    }

    /// A report as the tracker keeps it: the report, when it arrived and from where.
    public struct DownloadRecord: Codable, Sendable, Hashable {
        public var report: DownloadReport
        /// When the tracker received it, ISO 8601.
        public var reportedAt: String
        /// The address the report came from.
        public var client: String?

        public init(report: DownloadReport, reportedAt: String, client: String?) {
            self.report = report
            self.reportedAt = reportedAt
            self.client = client
        }
    }

    /// `GET /v1/downloads` answer: the most recent reports, newest first.
    public struct DownloadList: Codable, Sendable, Hashable {
        public var downloads: [DownloadRecord]
        public init(downloads: [DownloadRecord]) { self.downloads = downloads }
    }
}
