import DDLCore

/// Settings of one `ddl get`.
public struct ClientConfiguration: Sendable, Hashable {
    /// How progress is shown.
    public enum ProgressMode: String, Sendable, Hashable, CaseIterable {
        /// A live bar on a terminal, plain periodic lines otherwise.
        case auto
        /// Always plain periodic lines.
        case plain
        /// NDJSON events on standard output.
        case json
        /// Nothing.
        case quiet
    }

    /// The URL to download (`http` or `https`).
    public var url: String
    /// Other URLs of the same file (mirrors, as aria2 takes several URIs of one file): each
    /// is probed, must show the same length (and the same strong `ETag` when both have one),
    /// and serves pieces like any other source, spot-checked against ``url``.
    public var mirrors: [String] = []
    /// Exact output file; when `nil` the file lands in ``downloadDirectory`` under the
    /// server's name for it.
    public var outputFile: String?
    /// Directory for downloads when ``outputFile`` is not given.
    public var downloadDirectory: String = "."
    /// The swarm's trackers' base URLs, all asked at once (see `TrackerSet`); empty downloads
    /// directly.
    public var trackerURLs: [String] = []
    /// Fingerprints the trackers' certificates may have (`--tracker-fingerprint`, config key
    /// `tracker_fingerprint`): an https tracker is trusted by this pin alone. Empty: the
    /// system's CAs verify an https tracker.
    public var trackerFingerprints: [CertificateFingerprint] = []
    /// Use peers that serve plain HTTP (listed without a certificate fingerprint): they
    /// receive the token in clear (`--plain-http`, config key `plain_http`). Off: such peers
    /// are left out and never contacted.
    public var plainHTTP: Bool = false
    /// Parallel ranges in direct mode.
    public var connections: Int = 4
    /// Pieces each source keeps in flight in swarm mode.
    public var piecesInFlightPerSource: Int = 2
    /// Piece size; `nil` picks one from the file size and number of sources (4–16 MiB).
    public var pieceSize: Int64?
    /// Whether the client downloads pieces itself too.
    public var useSelf: Bool = true
    /// When a listed peer runs on this machine, fetch this machine's share through it rather
    /// than directly, so that its origin fetches are shared with the swarm (cached, and
    /// coalesced with other clients'). `false` (`--self-direct`) always fetches directly.
    public var selfViaLocalPeer: Bool = true
    /// When this machine's share goes through a peer of this machine, hand the download to
    /// it through its seed socket (``seedSocket``): the peer's fetches fill the `.part` file
    /// in place rather than a copy in its cache, and once verified the peer serves the whole
    /// file from it (`--no-seed`, config key `seed`). See docs/cache.md, "Seeding".
    public var seed: Bool = true
    /// The local peer's seed socket (`--seed-socket`, config key `seed_socket`); `nil`: the
    /// one of the default cache directory, `<cache_dir>/.seed/seed.sock`.
    public var seedSocket: String?
    /// Whether the download's end waits until the local peer has read the complete file
    /// (tests that download from it next); otherwise the peer reads it after answering.
    package var seedWait = false
    /// Once a digest from the publisher is known, spot-check only each source's first 64 KiB
    /// (and endgame races): the digest decides. `false` keeps the whole sample; an explicit
    /// `--verify-peers` (config key `verify_peers`) sets it.
    public var shrinkSampleWithDigest: Bool = true
    /// This machine's addresses, for telling a local peer (`nil`: the interfaces'
    /// non-loopback addresses). Tests set it to pretend a loopback peer is local.
    package var localAddresses: Set<String>?
    /// Replace an existing file at the output path.
    public var overwrite: Bool = false
    /// Progress display.
    public var progress: ProgressMode = .auto
    /// Resume from `<file>.part` and its control file `<file>.ddl` when they match the file
    /// on the server.
    public var resume: Bool = true
    /// Start over instead of failing when the file changes on the server.
    public var restartOnChange: Bool = false
    /// A checksum to verify at the end (`--checksum ALG=HEX`); a mismatch fails and keeps the
    /// final name free. When set, no digest is looked for: the user's wins.
    public var checksum: ExpectedChecksum?
    /// Without ``checksum``: look for a digest the publisher states (`--checksum auto`, the
    /// default) in the origin's headers (`Repr-Digest`, `Content-Digest`,
    /// `x-amz-checksum-sha256`, `Digest`) and in checksum files next to the URL (`FILE.sha256`,
    /// `SHA256SUMS`…), and verify the file against it like a ``checksum``. `false` is
    /// `--checksum none`.
    public var discoverDigests: Bool = true
    /// Seconds each checksum file's lookup may take (it runs during the transfer; only a
    /// download that ends sooner waits for it).
    public var digestLookupTimeoutSeconds: Int = 10
    /// Compute the SHA-256 of the whole file during the download and report it in the
    /// summary (`--no-sha256` turns it off: about 0.6 CPU seconds per GiB saved on a CPU with
    /// SHA instructions, more without). ``checksum`` is verified either way.
    public var computeSHA256: Bool = true
    /// Fraction of each peer's bytes spot-checked against the origin by SHA-256
    /// (`--verify-peers`), in 256 KiB windows, on top of each peer's first delivery (see
    /// `SpotCheckPlanner`); 0 disables, 1 checks all. The default, 0.02, costs about 2 %
    /// extra traffic for the bytes peers deliver.
    public var verifyPeersRate: Double = 0.02
    /// Most peers a download uses (`--swarm-peers`, config key `swarm_peers`): the tracker
    /// lists the ones it ranks highest for the file, the same for every client of it, so
    /// that in a swarm of thousands each file stays with a few dozen peers (see
    /// docs/trackers.md). `ddl preheat` must use the same number as the downloads after it.
    public var swarmPeers: Int = 64
    /// Query parameters left out of the file's key for piece owners besides the object
    /// stores' signing parameters (config key `cache_key_ignore_params`; exact names, see
    /// `URLIdentity`). Give the peers (`ddl server`) the same list: they key their caches
    /// with theirs.
    public var cacheKeyIgnoreParams: [String] = []
    /// Seconds to connect to the origin or a peer.
    public var connectTimeoutSeconds: Int = 10
    /// Seconds without a byte on a piece before it is given to another source.
    public var readTimeoutSeconds: Int = 30
    /// The longest one spot-check request for a window may take, whole answer included, at
    /// the origin or at a peer refereeing for it; `nil` (the default): connect plus read
    /// timeout. A referee that trickles its answer cannot hold a check for longer. Tests set
    /// it short, without shortening the timeouts every other request has.
    package var spotCheckDeadline: Duration?
    /// The swarm token, sent to the tracker and to peers (never to the origin).
    public var token: String?
    /// Blocks whose peers are used although the LAN address policy refuses them (loopback,
    /// link-local…; `--allow-peer-network`, config key `allow_peer_networks`). Peers the
    /// tracker lists at other refused addresses, or under a name, are ignored.
    public var allowPeerNetworks: [IPNetwork] = []
    /// Report the download's result to the tracker at the end (URL without query string,
    /// size, time, bytes per source), for its dashboard and metrics. Best effort.
    public var reportToTracker: Bool = true

    public init(url: String) {
        self.url = url
    }
}

extension ClientConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The main settings, without the token.
    public var description: String {
        "ClientConfiguration(url: \(URLIdentity.printable(url)), tracker: \(trackerURLs.isEmpty ? "none" : trackerURLs.joined(separator: ", ")), token: \(token == nil ? "none" : "<redacted>"))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
