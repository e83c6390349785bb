import Configuration
import DDLClient
import DDLCore
import DDLPeer
import DDLTracker

extension TrackerConfiguration {
    /// Reads `host`, `port`, `ttl`, `max_peers`, `max_peers_per_address`,
    /// `allow_peer_networks`, `max_connections`, `max_connections_per_address`, `stall_timeout`,
    /// `metrics`.
    public init(reader: ConfigReader) throws {
        self.init()
        host = reader.string(forKey: "host", default: host)
        port = try ConfigLoader.int(reader, "port", default: port, in: 0...65535)
        ttlSeconds = try ConfigLoader.int(reader, "ttl", default: ttlSeconds, in: 1...3600)
        maxPeers = try ConfigLoader.int(reader, "max_peers", default: maxPeers, in: 1...1_000_000)
        maxPeersPerAddress = try ConfigLoader.int(reader, "max_peers_per_address", default: maxPeersPerAddress, in: 1...1_000_000)
        token = try SecuritySettings.token(reader)
        allowPeerNetworks = try SecuritySettings.allowPeerNetworks(reader)
        connectionLimits = try SecuritySettings.connectionLimits(reader)
        metrics = try ConfigLoader.bool(reader, "metrics", default: metrics)
    }
}

extension PeerConfiguration {
    /// Reads `tracker` (one URL or several), `tracker_fingerprint`, `host`, `port`, `advertise`, `name`, `max_fetches`,
    /// `origin_connect_timeout`, `origin_read_timeout`, `cache`, `cache_dir`, `cache_size`,
    /// `cache_max_age`, `cache_key_ignore_params`, `metrics`.
    public init(reader: ConfigReader) throws {
        self.init()
        (trackerURLs, trackerFingerprints) = try TransportSettings.trackers(reader)
        host = reader.string(forKey: "host", default: host)
        port = try ConfigLoader.int(reader, "port", default: port, in: 0...65535)
        advertise = reader.string(forKey: "advertise")
        if let advertise, !advertise.isEmpty, IPAddress(advertise) == nil {
            throw ConfigLoader.Failure(description: "advertise must be an IP address (the tracker lists addresses only), got \(advertise)")
        }
        name = reader.string(forKey: "name")
        maxConcurrentFetches = try ConfigLoader.int(reader, "max_fetches", default: maxConcurrentFetches, in: 1...1024)
        originConnectTimeoutSeconds = try ConfigLoader.int(reader, "origin_connect_timeout", default: originConnectTimeoutSeconds, in: 1...600)
        originReadTimeoutSeconds = try ConfigLoader.int(reader, "origin_read_timeout", default: originReadTimeoutSeconds, in: 1...3600)
        token = try SecuritySettings.token(reader)
        allowNetworks = try SecuritySettings.allowNetworks(reader)
        if try ConfigLoader.bool(reader, "cache", default: true) {
            let directory = reader.string(forKey: "cache_dir") ?? ""
            cacheDirectory = directory.isEmpty ? PeerConfiguration.defaultCacheDirectory() : directory
        }
        cacheCapacity = try ConfigLoader.size(reader, "cache_size") ?? cacheCapacity
        cacheMaxAgeSeconds = try ConfigLoader.duration(reader, "cache_max_age") ?? cacheMaxAgeSeconds
        cacheKeyIgnoreParams = try ConfigLoader.cacheKeyIgnoreParams(reader)
        connectionLimits = try SecuritySettings.connectionLimits(reader)
        metrics = try ConfigLoader.bool(reader, "metrics", default: metrics)
    }
}

extension ClientConfiguration {
    /// Reads `tracker` (one URL or several), `tracker_fingerprint`, `plain_http`, `download_dir`, `output`, `connections`, `piece_size`, `self`, `self_direct`,
    /// `seed`, `seed_socket`, `overwrite`, `progress`, `resume`, `restart_on_change`, `checksum`, `sha256`,
    /// `verify_peers`, `swarm_peers`, `cache_key_ignore_params`, `connect_timeout`, `read_timeout`, `report`.
    public init(url: String, reader: ConfigReader) throws {
        self.init(url: url)
        (trackerURLs, trackerFingerprints) = try TransportSettings.trackers(reader)
        plainHTTP = try TransportSettings.plainHTTP(reader)
        outputFile = reader.string(forKey: "output")
        downloadDirectory = reader.string(forKey: "download_dir", default: downloadDirectory)
        connections = try ConfigLoader.int(reader, "connections", default: connections, in: 1...64)
        pieceSize = try ConfigLoader.size(reader, "piece_size")
        if let pieceSize, pieceSize < 16 * 1024 {
            throw ConfigLoader.Failure(description: "piece_size must be at least 16KiB")
        }
        useSelf = try ConfigLoader.bool(reader, "self", default: useSelf)
        selfViaLocalPeer = !(try ConfigLoader.bool(reader, "self_direct", default: !selfViaLocalPeer))
        seed = try ConfigLoader.bool(reader, "seed", default: seed)
        seedSocket = reader.string(forKey: "seed_socket").flatMap { $0.isEmpty ? nil : $0 }
        overwrite = try ConfigLoader.bool(reader, "overwrite", default: overwrite)
        let progressText = reader.string(forKey: "progress", default: progress.rawValue)
        guard let mode = ProgressMode(rawValue: progressText) else {
            throw ConfigLoader.Failure(description: "progress must be one of auto, plain, json, quiet; got \(progressText)")
        }
        progress = mode
        resume = try ConfigLoader.bool(reader, "resume", default: resume)
        if let text = reader.string(forKey: "verify_peers") ?? reader.double(forKey: "verify_peers").map({ String($0) }) {
            guard let rate = Double(text), rate >= 0, rate <= 1 else {
                throw ConfigLoader.Failure(description: "verify_peers must be a fraction between 0 and 1, got \(text)")
            }
            verifyPeersRate = rate
            shrinkSampleWithDigest = false
        }
        restartOnChange = try ConfigLoader.bool(reader, "restart_on_change", default: restartOnChange)
        if let text = reader.string(forKey: "checksum"), !text.isEmpty {
            switch text.lowercased() {
            case "auto":
                discoverDigests = true
            case "none":
                discoverDigests = false
            default:
                guard let parsed = ExpectedChecksum(text) else {
                    throw ConfigLoader.Failure(description: "checksum must be auto, none, or look like sha-256=HEX, sha-512=HEX or md5=HEX; got \(text)")
                }
                checksum = parsed
            }
        }
        computeSHA256 = try ConfigLoader.bool(reader, "sha256", default: computeSHA256)
        swarmPeers = try ConfigLoader.int(reader, "swarm_peers", default: swarmPeers, in: 1...1000)
        cacheKeyIgnoreParams = try ConfigLoader.cacheKeyIgnoreParams(reader)
        connectTimeoutSeconds = try ConfigLoader.int(reader, "connect_timeout", default: connectTimeoutSeconds, in: 1...600)
        readTimeoutSeconds = try ConfigLoader.int(reader, "read_timeout", default: readTimeoutSeconds, in: 1...3600)
        reportToTracker = try ConfigLoader.bool(reader, "report", default: reportToTracker)
        token = try SecuritySettings.token(reader)
        allowPeerNetworks = try SecuritySettings.allowPeerNetworks(reader)
    }
}
