import ServiceLifecycle
import Synchronization

/// A download as a `Service`, so that `ddl get` runs in a `ServiceGroup` like the servers:
/// a graceful shutdown (SIGINT/SIGTERM, when the group traps them) cancels the download,
/// which keeps its state for a resume and ends with ``DownloadError/interrupted``.
public final class DownloadService: Service, Sendable, CustomStringConvertible {
    private let downloader: Downloader
    private let outcome = Mutex<Result<DownloadSummary, DownloadError>?>(nil)

    public init(_ downloader: Downloader) {
        self.downloader = downloader
    }

    /// Names the service without its configuration (which holds the swarm token).
    public var description: String { "DownloadService(\(downloader.configuration.url))" }

    /// The download's outcome once ``run()`` returned; `nil` before.
    public var result: Result<DownloadSummary, DownloadError>? { outcome.withLock { $0 } }

    public func run() async {
        let downloader = self.downloader
        let result: Result<DownloadSummary, DownloadError>
        do {
            result = .success(try await cancelWhenGracefulShutdown { try await downloader.run() })
        } catch let error as DownloadError {
            result = .failure(error)
        } catch {
            result = .failure(.interrupted)
        }
        outcome.withLock { $0 = result }
    }
}
