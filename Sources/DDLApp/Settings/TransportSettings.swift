import Configuration
import DDLCore
import DDLTLS
import Foundation

/// The `state_dir`, `plain_http` and `tracker_fingerprint` settings: TLS on every link of
/// the swarm by default, plain HTTP only when asked for, with a warning.
public enum TransportSettings {
    /// Reads `plain_http` (flag `--plain-http`, `DDL_PLAIN_HTTP`).
    public static func plainHTTP(_ reader: ConfigReader) throws -> Bool {
        try ConfigLoader.bool(reader, "plain_http", default: false)
    }

    /// Reads `tracker_fingerprint` (repeatable `--tracker-fingerprint`,
    /// `DDL_TRACKER_FINGERPRINT`): a list, or one string of comma-separated fingerprints.
    public static func trackerFingerprints(_ reader: ConfigReader) throws -> [CertificateFingerprint] {
        let entries = reader.stringArray(forKey: "tracker_fingerprint")
            ?? reader.string(forKey: "tracker_fingerprint").map { $0.split(separator: ",").map(String.init) } ?? []
        return try entries.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map { text in
            guard let fingerprint = CertificateFingerprint(text) else {
                throw ConfigLoader.Failure(description: "tracker_fingerprint must look like sha256:<64 hex digits> (as `ddl tracker` prints it), got \(text)")
            }
            return fingerprint
        }
    }

    /// Reads `state_dir` (flag `--state-dir`, `DDL_STATE_DIR`); default
    /// `$XDG_STATE_HOME/ddl`, else `~/.local/state/ddl`.
    public static func stateDirectory(_ reader: ConfigReader, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let directory = reader.string(forKey: "state_dir"), !directory.isEmpty { return directory }
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") { return xdg + "/ddl" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/state/ddl"
    }

    /// Where a role keeps its TLS identity: `<state_dir>/tls/<role>.pem`.
    public static func identityPath(stateDirectory: String, role: SecuritySettings.Role) -> String {
        stateDirectory + "/tls/\(role.rawValue).pem"
    }

    /// The identity a serving role (`tracker`, `server`) presents: loaded from, or made in,
    /// the state directory; `nil` with `plain_http` (after a warning on standard error).
    public static func identity(for role: SecuritySettings.Role, _ reader: ConfigReader) throws -> TLSIdentity? {
        if try plainHTTP(reader) {
            warnPlainHTTP(role)
            return nil
        }
        let path = identityPath(stateDirectory: stateDirectory(reader), role: role)
        do {
            return try TLSIdentity.loadOrCreate(at: path, commonName: "ddl \(role.rawValue)")
        } catch {
            throw ConfigLoader.Failure(description: String(describing: error))
        }
    }

    /// The configured trackers and their fingerprints (`tracker`, `tracker_fingerprint`),
    /// each URL checked against the transport rules before anything is sent to it.
    public static func trackers(_ reader: ConfigReader) throws -> (urls: [String], fingerprints: [CertificateFingerprint]) {
        let urls = TrackerSettings.urls(reader)
        let fingerprints = try trackerFingerprints(reader)
        let plain = try plainHTTP(reader)
        for url in urls { try checkTracker(url, fingerprints: fingerprints, plainHTTP: plain) }
        return (urls, fingerprints)
    }

    /// Checks a tracker URL against the transport rules: `http://` (or no scheme without a
    /// fingerprint) sends the token in clear, so it needs `plain_http`; a fingerprint needs
    /// `https://`.
    static func checkTracker(_ url: String, fingerprints: [CertificateFingerprint], plainHTTP: Bool) throws {
        let lowered = url.lowercased()
        let isHTTPS = lowered.hasPrefix("https://") || (!lowered.contains("://") && !fingerprints.isEmpty)
        if !isHTTPS, !fingerprints.isEmpty {
            throw ConfigLoader.Failure(description: "a tracker fingerprint is given, so the tracker URL must be https:// (got \(url))")
        }
        if !isHTTPS, !plainHTTP {
            throw ConfigLoader.Failure(description: """
                the tracker URL \(url) is plain HTTP: the requests to it, with the swarm token, and its answers would cross the LAN in clear. \
                Use the https:// URL and the --tracker-fingerprint that `ddl tracker` prints, or pass --plain-http for a swarm without TLS.
                """)
        }
    }

    public static func warnPlainHTTP(_ role: SecuritySettings.Role) {
        FileHandle.standardError.write(Data("""
            ddl \(role.rawValue): WARNING: --plain-http: NO TLS. The swarm token and every byte cross the network in clear text; \
            anyone who can see this LAN can use the swarm. Use it only on a network you fully trust.

            """.utf8))
    }
}
