import DDLCore

/// One source of a download: a ``PieceSource`` of any kind, compared by its ``id``.
package struct DownloadSource: Sendable, Hashable {
    package let kind: any PieceSource

    package init(_ kind: any PieceSource) { self.kind = kind }

    package var id: String { kind.id }
    package var trust: SourceTrust { kind.trust }

    package static func == (a: Self, b: Self) -> Bool { a.id == b.id }
    package func hash(into hasher: inout Hasher) { hasher.combine(id) }
}

/// The file a download pins: the probed URL and validators, replaced when a signed URL that
/// expired is resolved anew from the URL the user gave. Sources read it for every request.
package final class PinnedFile: Sendable {
    private let state: Mutex<RemoteFile>

    package init(_ file: RemoteFile) { state = Mutex(file) }

    package var current: RemoteFile { state.withLock { $0 } }

    package func replace(with file: RemoteFile) { state.withLock { $0 = file } }
}

import Synchronization
