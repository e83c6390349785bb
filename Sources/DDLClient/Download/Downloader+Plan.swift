import DDLCore
import DDLTrackerClient

extension Downloader {
    /// Peers from the tracker plus this machine, or this machine alone (with a notice).
    func chooseSources() async throws -> [DownloadSource] {
        let direct = "downloading directly with \(configuration.connections) connection\(configuration.connections == 1 ? "" : "s")"
        var peers: [DownloadSource] = []
        if let trackerURL = configuration.trackerURL {
            do {
                let listed = try await TrackerClient(baseURL: trackerURL, httpClient: httpClient, token: configuration.token).peers()
                peers = listed.map { .peer(host: $0.host, port: $0.port, name: $0.name) }
                if peers.isEmpty { observer.handle(.notice("the tracker lists no peers: \(direct)")) }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                observer.handle(.notice("tracker unreachable (\(error)): \(direct)"))
            }
        } else {
            observer.handle(.notice("no tracker configured: \(direct)"))
        }
        if peers.isEmpty {
            if !configuration.useSelf {
                throw DownloadError.usage("--no-self needs peers, but none are available")
            }
            return [.direct]
        }
        return configuration.useSelf ? peers + [.direct] : peers
    }

    /// The piece plan and the pieces already on disk: from the control file when it matches
    /// the file on the server (resume), else a fresh plan for `sources`.
    func planPieces(file: RemoteFile, length: Int64, sources: [DownloadSource], partPath: String, controlPath: String, startOver: Bool) throws -> (PiecePlan, Set<Int>) {
        let fresh = configuration.pieceSize.map { PiecePlan(length: length, pieceSize: $0) }
            ?? PiecePlan.automatic(length: length, sources: sources == [.direct] ? configuration.connections : sources.count)
        guard configuration.resume && !startOver, FileSystemChecks.isRegularFile(partPath), let saved = ControlFile.load(path: controlPath),
              saved.url == configuration.url || saved.finalURL == file.url
        else { return (fresh, []) }
        if let why = saved.mismatch(with: file) {
            guard configuration.restartOnChange else {
                throw DownloadError.changed("cannot resume \(partPath): the file changed on the server since the partial download (\(why)); run with --no-resume to start over")
            }
            observer.handle(.notice("the file changed on the server since the partial download (\(why)): starting over"))
            return (fresh, [])
        }
        guard let plan = saved.plan else { return (fresh, []) }
        let completed = saved.completedPieces(count: plan.count)
        observer.handle(.notice("resuming \(partPath): \(completed.count) of \(plan.count) pieces already downloaded"))
        return (plan, completed)
    }
}
