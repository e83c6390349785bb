import AsyncHTTPClient
import DDLCore
import DDLTLS
import NIOCore

/// Several independent trackers of one swarm, asked together.
///
/// Trackers are soft state with no consensus between them: every peer registers with every
/// tracker, so each one lists (nearly) the whole swarm on its own. Clients ask them all in
/// parallel and merge the answers; one answer is enough, and a tracker that is down only
/// shows up as a failure when none answers (see docs/trackers.md).
public struct TrackerSet: Sendable {
    /// Why no tracker of the set could be asked.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        /// Each tracker's failure, in the configured order.
        public let failures: [TrackerClient.Failure]

        public init(failures: [TrackerClient.Failure]) { self.failures = failures }

        /// `true` when every tracker was unreachable (worth asking again), rather than one
        /// answering with an error.
        public var allUnreachable: Bool {
            !failures.isEmpty && failures.allSatisfy { if case .unreachable = $0 { true } else { false } }
        }

        public var description: String {
            if failures.isEmpty { return "no tracker configured: pass --tracker URL, set DDL_TRACKER or `tracker:` in the config file" }
            if failures.count == 1 { return failures[0].description }
            return "none of the \(failures.count) trackers answered: " + failures.map(\.description).joined(separator: "; ")
        }
    }

    /// What one round of asking the trackers gave.
    public struct Listing: Sendable {
        /// The merged list, each peer once (see ``identity(of:)``).
        public var peers: [TrackerAPI.Peer]
        /// How many trackers answered.
        public var answered: Int
        /// The trackers that failed (a tracker still silent when the grace period ended is
        /// neither counted nor listed here).
        public var failures: [TrackerClient.Failure]
    }

    /// What makes two listed peers the same peer. A peer registered with several trackers
    /// gets a different id from each, so the id is not part of it.
    public struct PeerIdentity: Hashable, Sendable {
        /// The address in canonical form (`IPAddress` spelling when it parses, else lower case).
        public var host: String
        public var port: Int
        /// Listed with two fingerprints (by two trackers), a peer is two candidates: the
        /// client's certificate probe keeps the one that matches.
        public var fingerprint: CertificateFingerprint?

        public init(_ peer: TrackerAPI.Peer) {
            host = IPAddress(peer.host).map(\.description) ?? peer.host.lowercased()
            port = peer.port
            fingerprint = peer.fingerprint
        }
    }

    /// The trackers, in the configured order (duplicates removed).
    public let trackers: [TrackerClient]

    public init(_ trackers: [TrackerClient]) {
        var seen: Set<String> = []
        self.trackers = trackers.filter { seen.insert($0.baseURL).inserted }
    }

    /// - Parameters:
    ///   - baseURLs: each tracker's URL, e.g. `http://10.0.0.5:5000`.
    ///   - token: the swarm token, sent to every tracker.
    ///   - fingerprints: the trackers' certificate fingerprints (each tracker may have any of
    ///     them; see ``TrackerClient/fingerprints``).
    ///   - pins: where learned certificates are kept (one per process or download).
    public init(
        baseURLs: [String], httpClient: HTTPClient, timeout: TimeAmount = .seconds(5), token: String? = nil,
        fingerprints: [CertificateFingerprint] = [], pins: PinnedCertificates = PinnedCertificates()
    ) {
        self.init(baseURLs.map {
            TrackerClient(baseURL: $0, httpClient: httpClient, timeout: timeout, token: token, fingerprints: fingerprints, pins: pins)
        })
    }

    public var isEmpty: Bool { trackers.isEmpty }

    /// The key that merges a peer listed by several trackers.
    public static func identity(of peer: TrackerAPI.Peer) -> PeerIdentity { PeerIdentity(peer) }

    /// Asks every tracker at once. Once one has answered, the others get `grace` more to
    /// answer (a tracker that is down but does not refuse connections then costs at most
    /// `grace`, not its whole timeout), and are cancelled after it.
    /// Throws only `CancellationError`; when no tracker answers, ``Listing/answered`` is 0.
    /// `file` and `limit`: see ``TrackerClient/peers(file:limit:)``.
    public func list(file: String? = nil, limit: Int? = nil, grace: Duration = .seconds(1)) async throws -> Listing {
        enum Outcome: Sendable {
            case listed(Int, [TrackerAPI.Peer])
            case failed(Int, TrackerClient.Failure)
            case cancelled
            case graceOver
        }
        var lists: [Int: [TrackerAPI.Peer]] = [:]
        var failures: [Int: TrackerClient.Failure] = [:]
        await withTaskGroup(of: Outcome.self) { group in
            for (index, tracker) in trackers.enumerated() {
                group.addTask {
                    do {
                        return .listed(index, try await tracker.peers(file: file, limit: limit))
                    } catch let failure as TrackerClient.Failure {
                        return .failed(index, failure)
                    } catch is CancellationError {
                        return .cancelled
                    } catch {
                        return .failed(index, .unreachable(tracker.baseURL, underlying: String(describing: error)))
                    }
                }
            }
            var pending = trackers.count
            var graceStarted = false
            while pending > 0, let outcome = await group.next() {
                switch outcome {
                case let .listed(index, peers):
                    lists[index] = peers
                    pending -= 1
                case let .failed(index, failure):
                    failures[index] = failure
                    pending -= 1
                case .cancelled:
                    pending -= 1
                case .graceOver:
                    group.cancelAll()
                    return
                }
                if !lists.isEmpty, !graceStarted, pending > 0 {
                    graceStarted = true
                    group.addTask {
                        try? await Task.sleep(for: grace)
                        return .graceOver
                    }
                }
            }
            group.cancelAll()
        }
        try Task.checkCancellation()
        let ordered = trackers.indices.compactMap { lists[$0] }
        return Listing(
            peers: Self.merge(ordered), answered: ordered.count,
            failures: trackers.indices.compactMap { failures[$0] })
    }

    /// The merged peer list; throws ``Failure`` when no tracker answered.
    public func peers(file: String? = nil, limit: Int? = nil, grace: Duration = .seconds(1)) async throws -> [TrackerAPI.Peer] {
        let listing = try await list(file: file, limit: limit, grace: grace)
        guard listing.answered > 0 else { throw Failure(failures: listing.failures) }
        return listing.peers
    }

    /// Reports a download to every tracker at once (each keeps its own dashboard).
    /// Best effort: returns the failures; `timeout` bounds each request, and they run in parallel.
    public func report(_ download: TrackerAPI.DownloadReport, timeout: TimeAmount = .seconds(2)) async -> [any Error] {
        await withTaskGroup(of: (any Error)?.self) { group in
            for tracker in trackers {
                group.addTask {
                    do {
                        try await tracker.report(download, timeout: timeout)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            var failures: [any Error] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
    }

    /// Merges lists from several trackers: each peer once (the first tracker's entry wins),
    /// taken in turn from each list so that one tracker's long list (a flood, say) cannot push
    /// the others' peers past ``TrackerClient/maxPeers``.
    public static func merge(_ lists: [[TrackerAPI.Peer]]) -> [TrackerAPI.Peer] {
        if lists.count == 1 { return Array(lists[0].prefix(TrackerClient.maxPeers)) }
        var seen: Set<PeerIdentity> = []
        var merged: [TrackerAPI.Peer] = []
        let longest = lists.map(\.count).max() ?? 0
        for position in 0..<longest {
            for list in lists where position < list.count {
                let peer = list[position]
                if seen.insert(identity(of: peer)).inserted {
                    merged.append(peer)
                    if merged.count == TrackerClient.maxPeers { return merged }
                }
            }
        }
        return merged
    }
}

extension TrackerSet: CustomStringConvertible {
    /// The trackers' URLs, without the token.
    public var description: String { "TrackerSet(\(trackers.map(\.baseURL).joined(separator: ", ")))" }
}
