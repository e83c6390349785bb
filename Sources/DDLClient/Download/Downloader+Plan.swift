import Foundation
import DDLCore
import Logging
import NIOCore
import DDLTrackerClient

extension Downloader {
    /// The sources of a segmented download: peers from the tracker, each fetching from the
    /// origin or a mirror (in turn, so the origins' load is spread), plus this machine
    /// fetching from the origin and from each mirror (unless `--no-self`).
    func chooseSources(origin: PinnedFile, mirrors: [RemoteFile]) async throws -> [DownloadSource] {
        let direct = "downloading directly with \(configuration.connections) connection\(configuration.connections == 1 ? "" : "s")"
        var listed: [TrackerAPI.Peer] = []
        var trackerFailure: String?
        if !configuration.trackerURLs.isEmpty {
            let trackers = configuration.trackerSet(httpClient: swarmClient ?? httpClient, pins: pins)
            // All trackers are asked at once and one answer is enough. When every tracker is
            // unreachable, they are asked again twice, like the origin's probe.
            var delays = OriginProbe.retryDelays[...]
            while true {
                let listing = try await trackers.list(file: Rendezvous.fileKey(url: origin.current.url), limit: configuration.swarmPeers)
                if listing.answered > 0 {
                    listed = usablePeers(listing.peers)
                    // Said once, not an error: the other trackers' lists are enough.
                    for failure in listing.failures {
                        observer.handle(.notice("\(failure); using the other trackers' peers"))
                    }
                    if listed.isEmpty {
                        observer.handle(.notice((trackers.trackers.count == 1 ? "the tracker lists" : "the trackers list") + " no peers: \(direct)"))
                    }
                } else {
                    let failure = TrackerSet.Failure(failures: listing.failures)
                    if failure.allUnreachable, !delays.isEmpty {
                        let delay = delays.removeFirst()
                        logger.info("tracker unreachable, asking again", metadata: ["error": "\(failure)", "in": "\(delay)"])
                        try await Task.sleep(for: delay)
                        continue
                    }
                    trackerFailure = String(describing: failure)
                    if configuration.useSelf { observer.handle(.notice("tracker unreachable (\(failure)): \(direct)")) }
                }
                break
            }
        } else {
            observer.handle(.notice("no tracker configured: \(direct)"))
        }
        let trusted = await trustedPeers(listed)
        if trusted.isEmpty && !configuration.useSelf {
            if !listed.isEmpty {
                throw DownloadError.network("--no-self needs peers, but none of the \(listed.count) listed could be trusted (see the notice above)")
            }
            if let trackerFailure {
                throw DownloadError.network("--no-self needs peers, but the tracker could not be asked for them: \(trackerFailure)")
            }
            throw DownloadError.usage("--no-self needs peers, but none are available")
        }
        let mirrorFiles = mirrors.map(PinnedFile.init)
        let targets = [(origin, true)] + mirrorFiles.map { ($0, false) }
        var sources = trusted.enumerated().map { index, trusted in
            let (target, isOrigin) = targets[index % targets.count]
            let peer = trusted.peer
            return DownloadSource(PeerSource(
                host: peer.host, port: peer.port, name: peer.name, target: target, targetIsOrigin: isOrigin, token: configuration.token,
                tlsConfiguration: trusted.tlsConfiguration))
        }
        var useSelf = configuration.useSelf
        if useSelf, configuration.selfViaLocalPeer, let local = localPeer(among: trusted.map(\.peer)) {
            useSelf = false
            let name = local.name.map { "\($0) (\(local.host):\(local.port))" } ?? "\(local.host):\(local.port)"
            observer.handle(.notice("peer \(name) runs on this machine: this machine's share goes through it, which shares its fetches with the swarm (--self-direct fetches directly)"))
        }
        if useSelf {
            sources.append(DownloadSource(OriginSource(pinned: origin)))
            sources += mirrors.map { DownloadSource(MirrorSource(file: $0)) }
        }
        return sources
    }

    /// The seeder of this machine's peer when the download uses it (see ``LocalSeeder``).
    func localSeeder(among sources: [DownloadSource]) async -> LocalSeeder? {
        guard configuration.seed else { return nil }
        let peers = sources.compactMap { $0.kind as? PeerSource }
        let addresses = configuration.localAddresses ?? Self.interfaceAddresses()
        guard let local = peers.first(where: { addresses.contains($0.host) }) else { return nil }
        let socket = configuration.seedSocket ?? SeedAPI.socketPath(cacheDirectory: SeedAPI.defaultCacheDirectory(environment: ProcessInfo.processInfo.environment))
        return await LocalSeeder.connect(socketPath: socket, port: local.port, httpClient: httpClient, token: configuration.token, logger: logger)
    }

    /// A listed peer whose address is one of this machine's (not loopback: every machine has
    /// those), if any.
    func localPeer(among peers: [TrackerAPI.Peer]) -> TrackerAPI.Peer? {
        let addresses = configuration.localAddresses ?? Self.interfaceAddresses()
        return peers.first { addresses.contains($0.host) }
    }

    /// This machine's non-loopback interface addresses.
    static func interfaceAddresses() -> Set<String> {
        guard let devices = try? System.enumerateDevices() else { return [] }
        var addresses: Set<String> = []
        for device in devices {
            guard let ip = device.address?.ipAddress, !ip.hasPrefix("127."), ip != "::1" else { continue }
            addresses.insert(ip)
        }
        return addresses
    }

    /// What piece owners are computed from: the identity of the file's URL (without signing
    /// parameters and those in `ignoring`, see ``URLIdentity``) and its validator, so that
    /// every client of one object, whoever signed its URL, gives a piece to the same peer.
    /// `nil` without a validator.
    static func ownershipKey(of file: RemoteFile, ignoring: [String]) -> String? {
        guard let validator = file.ifRangeValidator else { return nil }
        return URLIdentity(file.url, ignoring: ignoring).url + " " + validator
    }

    /// Each piece's owner among the peers that fetch from the origin (rendezvous hashing
    /// with bounded loads, so that each peer owns its share of the bytes: see
    /// ``Rendezvous/balancedOwners(file:pieces:among:)``), or `nil` when ownership does not
    /// apply: no such peer, or a file without a validator (peers cache only files with one).
    /// A piece that its rendezvous owner's cache does not hold (all of) goes to the peer
    /// whose cache holds the most of it (`holdings`: it fetched it as a thief, or part of it
    /// as an endgame copy, in an earlier download). `ignoring` are the query parameters left
    /// out of the file's key besides the signing ones (`cache_key_ignore_params`).
    static func owners(
        plan: PiecePlan, file: RemoteFile, sources: [DownloadSource], holdings: [String: CacheHoldings] = [:], ignoring: [String]
    ) -> [String?]? {
        guard let key = ownershipKey(of: file, ignoring: ignoring) else { return nil }
        var candidates: [String: String] = [:]
        for source in sources {
            guard let peer = source.kind as? PeerSource, peer.targetIsOrigin else { continue }
            candidates[peer.authority] = source.id
        }
        guard !candidates.isEmpty else { return nil }
        let names = Array(candidates.keys)
        let ranges = (0..<plan.count).map { plan.range(of: $0) }
        let balanced = Rendezvous.balancedOwners(file: key, pieces: ranges, among: names)
        return ranges.enumerated().map { piece, range in
            let owner = candidates[balanced[piece]]
            let held = { (id: String?) -> Int64 in id.flatMap { holdings[$0]?.covered(range) } ?? 0 }
            let ownerHolds = held(owner)
            guard ownerHolds < range.count else { return owner }
            let most = names.map { held(candidates[$0]) }.max() ?? 0
            guard most > ownerHolds else { return owner }
            let holders = names.filter { held(candidates[$0]) == most }
            return Rendezvous.owner(file: key, offset: range.first, among: holders).flatMap { candidates[$0] } ?? owner
        }
    }

    /// Whether the peers' caches hold the file (at least half of it, each piece counted at the
    /// peer it goes to), from their holdings; `nil` when no peer said.
    static func warmth(plan: PiecePlan, owners: [String?]?, holdings: [String: CacheHoldings]) -> Bool? {
        guard let owners, !holdings.isEmpty, plan.length > 0 else { return nil }
        var held: Int64 = 0
        for piece in 0..<plan.count {
            guard let owner = owners[piece], let holding = holdings[owner] else { continue }
            held += holding.covered(plan.range(of: piece))
        }
        return held * 2 >= plan.length
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
        noticeLeftOut(refused, as: "ignored", "the tracker listed outside the address policy", log: "peers outside the address policy ignored")
        return usable
    }

    /// One notice for listed peers this download does not use: `"VERB N peer(s) WHY: "` and
    /// the first three reasons.
    private func noticeLeftOut(_ reasons: [String], as verb: String, _ why: String? = nil, log: Logger.Message) {
        guard !reasons.isEmpty else { return }
        let shown = reasons.prefix(3).joined(separator: "; ") + (reasons.count > 3 ? "; …" : "")
        let peers = "\(reasons.count) peer\(reasons.count == 1 ? "" : "s")" + (why.map { " " + $0 } ?? "")
        observer.handle(.notice("\(verb) \(peers): \(shown)"))
        logger.info(log, metadata: ["count": "\(reasons.count)"])
    }

    /// The listed peers this download may send the token to (see ``PeerTrust``); a notice
    /// says why any other was left out.
    func trustedPeers(_ listed: [TrackerAPI.Peer]) async -> [TrustedPeer] {
        guard !listed.isEmpty else { return [] }
        let (trusted, refused) = await PeerTrust.secure(listed, pins: pins, plainHTTP: configuration.plainHTTP)
        noticeLeftOut(refused, as: "left out", log: "peers left out")
        return trusted
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
        // With peers, the plan depends on the number of peers alone (counted with this
        // machine, whether or not it takes part, nor mirrors): every client of the swarm then
        // cuts the file the same way, and a piece's owner holds exactly the bytes another
        // client asks it for.
        let peers = sources.filter { $0.kind is PeerSource }.count
        let fresh = configuration.pieceSize.map { PiecePlan(length: length, pieceSize: $0) }
            ?? PiecePlan.automatic(length: length, sources: peers > 0 ? peers + 1 : sources.count * configuration.connections)
        guard configuration.resume && !startOver, FileSystemChecks.isRegularFile(partPath), let saved = ControlFile.load(path: controlPath),
              saved.isOf(url: configuration.url, file: file, ignoring: configuration.cacheKeyIgnoreParams)
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
