import DDLClient
import Synchronization

/// Keeps every download event for assertions.
final class RecordingObserver: DownloadObserver {
    private let events = Mutex<[DownloadEvent]>([])

    func handle(_ event: DownloadEvent) { events.withLock { $0.append(event) } }

    var notices: [String] {
        events.withLock { $0.compactMap { if case let .notice(text) = $0 { text } else { nil } } }
    }

    var start: DownloadStart? {
        events.withLock { $0.lazy.compactMap { if case let .started(start) = $0 { start } else { nil } }.first }
    }

    var dropped: [String] {
        events.withLock { $0.compactMap { if case let .sourceDropped(source) = $0 { source } else { nil } } }
    }

    var banned: [String] {
        events.withLock { $0.compactMap { if case let .peerBanned(source, _, _) = $0 { source } else { nil } } }
    }

    var failedSources: Set<String> {
        events.withLock { Set($0.compactMap { if case let .pieceFailed(_, source, _) = $0 { source } else { nil } }) }
    }

    var spotChecks: [SpotCheckReport] {
        events.withLock { $0.compactMap { if case let .spotCheck(report) = $0 { report } else { nil } } }
    }

    /// Every event, for a failure message.
    var all: [DownloadEvent] { events.withLock { $0 } }

    var failedPieces: Int {
        events.withLock { $0.filter { if case .pieceFailed = $0 { true } else { false } }.count }
    }
}
