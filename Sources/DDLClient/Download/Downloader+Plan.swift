import DDLCore
import DDLTrackerClient

extension Downloader {
    /// The sources of a segmented download: peers from the tracker, each fetching from the
    /// origin or a mirror (in turn, so the origins' load is spread), plus this machine
    /// fetching from the origin and from each mirror (unless `--no-self`).
    func chooseSources(origin: PinnedFile, mirrors: [RemoteFile]) async throws -> [DownloadSource] {
        let direct = "downloading directly with \(configuration.connections) connection\(configuration.connections == 1 ? "" : "s")"
        var listed: [TrackerAPI.Peer] = []
        var trackerFailure: String?
        if let trackerURL = configuration.trackerURL {
            let tracker = TrackerClient(baseURL: trackerURL, httpClient: swarmClient ?? httpClient, token: configuration.token)
            // An unreachable tracker is asked again twice, like the origin's probe.
            var delays = OriginProbe.retryDelays[...]
            while true {
                do {
                    listed = usablePeers(try await tracker.peers())
                    if listed.isEmpty { observer.handle(.notice("the tracker lists no peers: \(direct)")) }
                } catch is CancellationError {
                    throw CancellationError()
                } catch let TrackerClient.Failure.unreachable(url, underlying) where !delays.isEmpty {
                    let delay = delays.removeFirst()
                    logger.info("tracker unreachable, asking again", metadata: ["url": "\(url)", "error": "\(underlying)", "in": "\(delay)"])
                    try await Task.sleep(for: delay)
                    continue
                } catch {
                    trackerFailure = String(describing: error)
                    if configuration.useSelf { observer.handle(.notice("tracker unreachable (\(error)): \(direct)")) }
                }
                break
            }
        } else {
            observer.handle(.notice("no tracker configured: \(direct)"))
        }
        if listed.isEmpty && !configuration.useSelf {
            if let trackerFailure {
                throw DownloadError.network("--no-self needs peers, but the tracker could not be asked for them: \(trackerFailure)")
            }
            throw DownloadError.usage("--no-self needs peers, but none are available")
        }
        let mirrorFiles = mirrors.map(PinnedFile.init)
        let targets = [(origin, true)] + mirrorFiles.map { ($0, false) }
        var sources = listed.enumerated().map { index, peer in
            let (target, isOrigin) = targets[index % targets.count]
            return DownloadSource(PeerSource(host: peer.host, port: peer.port, name: peer.name, target: target, targetIsOrigin: isOrigin, token: configuration.token))
        }
        if configuration.useSelf {
            sources.append(DownloadSource(OriginSource(pinned: origin)))
            sources += mirrors.map { DownloadSource(MirrorSource(file: $0)) }
        }
        return sources
    }

    /// The listed peers this machine may connect to: IP addresses that pass the LAN address
    /// policy (`--allow-peer-network` opens more). A notice names what was left out.
    func usablePeers(_ listed: [TrackerAPI.Peer]) -> [TrackerAPI.Peer] {
        let policy = AddressPolicy(allowNetworks: configuration.allowPeerNetworks, scope: .lan)
        var refused: [String] = []
        let usable = listed.filter { peer in
            guard let address = IPAddress(peer.host) else {
                refused.append("\(TerminalText.escaped(peer.host)) is not an IP address")
                return false
            }
            if let refusal = policy.check(address) {
                refused.append(refusal.description)
                return false
            }
            return true
        }
        if !refused.isEmpty {
            let shown = refused.prefix(3).joined(separator: "; ") + (refused.count > 3 ? "; …" : "")
            observer.handle(.notice("ignored \(refused.count) peer\(refused.count == 1 ? "" : "s") the tracker listed outside the address policy: \(shown)"))
            logger.info("peers outside the address policy ignored", metadata: ["count": "\(refused.count)"])
        }
        return usable
    }

    /// Probes the mirrors (in parallel) and keeps those that show the origin's length, and
    /// its strong `ETag` when both have one; a notice says why any other was left out.
    func probeMirrors(of file: RemoteFile) async -> [RemoteFile] {
        let probe = OriginProbe(httpClient: httpClient, logger: logger)
        let mirrors = configuration.mirrors
        // (A `do throws(DownloadError)` returning a tuple from these child tasks crashed in
        // release builds with Swift 6.3.1, the index coming back out of range: plain
        // results, keyed by position, instead.)
        let probed = await withTaskGroup(of: MirrorProbe.self) { group in
            for (index, url) in mirrors.enumerated() {
                group.addTask { await MirrorProbe(index: index, url: url, probe: probe) }
            }
            var probed: [MirrorProbe] = []
            for await result in group { probed.append(result) }
            return probed.sorted { $0.index < $1.index }
        }
        var usable: [RemoteFile] = []
        for result in probed {
            if let error = result.error {
                observer.handle(.notice("mirror \(result.url) left out: \(error)"))
            } else if let mirror = result.file {
                if let why = Self.mirrorMismatch(mirror, origin: file) {
                    observer.handle(.notice("mirror \(result.url) left out: \(why)"))
                } else {
                    usable.append(mirror)
                }
            }
        }
        return usable
    }

    /// Why `mirror` cannot serve pieces of `origin`'s file, or `nil` when it can.
    static func mirrorMismatch(_ mirror: RemoteFile, origin: RemoteFile) -> String? {
        guard mirror.supportsSegmentedDownload else { return "it does not serve byte ranges" }
        guard mirror.length == origin.length else {
            return "its length is \(mirror.length.map(String.init) ?? "unknown"), the origin's \(origin.length.map(String.init) ?? "unknown")"
        }
        if let a = mirror.etag, let b = origin.etag, !a.hasPrefix("W/"), !b.hasPrefix("W/"), a != b {
            return "its ETag \(a) differs from the origin's \(b)"
        }
        return nil
    }

    /// The piece plan and the pieces already on disk: from the control file when it matches
    /// the file on the server (resume), else a fresh plan for `sources`.
    func planPieces(file: RemoteFile, length: Int64, sources: [DownloadSource], partPath: String, controlPath: String, startOver: Bool) throws -> (PiecePlan, Set<Int>) {
        let fresh = configuration.pieceSize.map { PiecePlan(length: length, pieceSize: $0) }
            ?? PiecePlan.automatic(length: length, sources: sources.contains(where: { $0.kind is PeerSource }) ? sources.count : sources.count * configuration.connections)
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

extension Downloader {
    /// Pieces `source` keeps in flight: without peers, `--connections` for this machine's
    /// origin and each mirror (each its own server); with peers, a few for every source.
    func slots(for source: DownloadSource, among sources: [DownloadSource]) -> Int {
        sources.contains(where: { $0.kind is PeerSource }) ? configuration.piecesInFlightPerSource : configuration.connections
    }
}

/// One mirror's probe: the file it serves, or why not.
struct MirrorProbe: Sendable {
    let index: Int
    let url: String
    var file: RemoteFile?
    var error: DownloadError?

    init(index: Int, url: String, probe: OriginProbe) async {
        self.index = index
        self.url = url
        do {
            file = try await probe.probe(url)
        } catch {
            self.error = error
        }
    }
}
