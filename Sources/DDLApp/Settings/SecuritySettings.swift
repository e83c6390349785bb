import Configuration
import DDLClient
import DDLCore
import DDLPeer
import DDLServerSupport
import DDLTLS
import DDLTracker
import DDLTrackerClient
import Foundation
import NIOCore
import NIOPosix

/// The `token`, `insecure` and `allow_networks` settings, and the rules for starting each
/// role with them (secure by default).
public enum SecuritySettings {
    /// A role that talks to or is part of a swarm.
    public enum Role: String, Sendable {
        case tracker, server, get, peers
    }

    /// Reads `token` (flag `--token`, `DDL_TOKEN`) or `token_file` (flag `--token-file`,
    /// `DDL_TOKEN_FILE`; see ``TokenFile``); `nil` when neither is set. Both set, wherever
    /// each comes from, is a usage error: which one wins would be a guess.
    public static func token(_ reader: ConfigReader) throws -> String? {
        let given = reader.string(forKey: "token", isSecret: true)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let file = reader.string(forKey: "token_file")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if !file.isEmpty {
            guard given.isEmpty else {
                throw ConfigLoader.Failure(description: """
                    both token and token_file are set (from --token/--token-file, DDL_TOKEN/DDL_TOKEN_FILE or the config file): \
                    give only one; --token-file keeps the token out of the process list
                    """)
            }
            return try TokenFile.token(at: file)
        }
        let token = given
        guard !token.isEmpty else { return nil }
        if let problem = SwarmToken.problem(with: token) {
            throw ConfigLoader.Failure(description: "token: \(problem)")
        }
        return token
    }

    /// Reads `insecure` (flag `--insecure`, `DDL_INSECURE`): run or join an open swarm.
    public static func insecure(_ reader: ConfigReader) throws -> Bool {
        try ConfigLoader.bool(reader, "insecure", default: false)
    }

    /// Reads `allow_networks` (repeatable `--allow-network`, `DDL_ALLOW_NETWORKS`): a list,
    /// or one string of comma-separated blocks.
    public static func allowNetworks(_ reader: ConfigReader) throws -> [IPNetwork] {
        let entries = reader.stringArray(forKey: "allow_networks") ?? reader.string(forKey: "allow_networks").map { [$0] } ?? []
        do {
            return try AddressPolicy.parseNetworks(entries)
        } catch {
            throw ConfigLoader.Failure(description: error.description)
        }
    }

    /// Reads `allow_peer_networks` (repeatable `--allow-peer-network`,
    /// `DDL_ALLOW_PEER_NETWORKS`): peer addresses the LAN policy refuses but this swarm
    /// accepts (loopback for a swarm on one machine).
    public static func allowPeerNetworks(_ reader: ConfigReader) throws -> [IPNetwork] {
        let entries = reader.stringArray(forKey: "allow_peer_networks") ?? reader.string(forKey: "allow_peer_networks").map { [$0] } ?? []
        do {
            return try AddressPolicy.parseNetworks(entries)
        } catch {
            throw ConfigLoader.Failure(description: error.description.replacingOccurrences(of: "allow_networks", with: "allow_peer_networks"))
        }
    }

    /// Reads `max_connections`, `max_connections_per_address` and `stall_timeout`.
    public static func connectionLimits(_ reader: ConfigReader) throws -> ConnectionLimits {
        var limits = ConnectionLimits()
        limits.maxConnections = try ConfigLoader.int(reader, "max_connections", default: limits.maxConnections, in: 1...100_000)
        limits.maxConnectionsPerAddress = try ConfigLoader.int(
            reader, "max_connections_per_address", default: limits.maxConnectionsPerAddress, in: 1...100_000)
        limits.stallTimeoutSeconds = try ConfigLoader.int(reader, "stall_timeout", default: limits.stallTimeoutSeconds, in: 1...3600)
        return limits
    }

    /// Applies the secure-by-default rules before a role starts.
    ///
    /// - `tracker` without a token: generates one (returns `true`), unless `insecure`.
    /// - `server`, `peers`, and `get` with a tracker: a token is required unless `insecure`.
    /// - `insecure` without a token prints a loud warning on standard error.
    ///
    /// Throws a message for the user (exit 64) when a required token is missing.
    public static func enforce(_ role: Role, token: inout String?, insecure: Bool, usesSwarm: Bool = true) throws -> Bool {
        guard token == nil, usesSwarm else { return false }
        if insecure {
            warnOpenSwarm(role)
            return false
        }
        switch role {
        case .tracker:
            token = SwarmToken.generate()
            return true
        case .server, .get, .peers:
            throw ConfigLoader.Failure(description: """
                ddl \(role.rawValue) needs the swarm's token: pass --token-file PATH or --token TOKEN, set DDL_TOKEN_FILE or \
                DDL_TOKEN, or put `token_file:` or `token:` in the config file (`ddl tracker` prints it when it starts). To use an open swarm without a token anyway, \
                pass --insecure.
                """)
        }
    }

    static func warnOpenSwarm(_ role: Role) {
        let what: String
        switch role {
        case .tracker: what = "this tracker accepts registrations and lists peers for anyone who can reach it"
        case .server: what = "anyone who can reach this peer can make it fetch URLs over this machine's internet link"
        case .get, .peers: what = "talking to the tracker and peers without a token"
        }
        FileHandle.standardError.write(Data("""
            ddl \(role.rawValue): WARNING: --insecure: OPEN SWARM, NO TOKEN. \(what). Use a token on any network you do not fully trust.

            """.utf8))
    }

    /// The lines `ddl tracker` prints so that servers and clients can join: with TLS, the
    /// https URL and the certificate's fingerprint, which servers and clients pin.
    public static func joinInstructions(host: String, port: Int, token: String, generated: Bool, fingerprint: CertificateFingerprint? = nil) -> [String] {
        let trackerURL = baseURL(host: host, port: port, tls: fingerprint != nil)
        let shown = generated ? token : "<your token>"
        let trust = fingerprint.map { " --tracker-fingerprint \($0)" } ?? " --plain-http"
        var lines = [
            generated ? "ddl tracker: generated the swarm token (pass --token or set DDL_TOKEN to choose one)" : "ddl tracker: using the configured swarm token",
            "ddl tracker: start peer servers with:  ddl server --tracker \(trackerURL)\(trust) --token \(shown)",
            "ddl tracker: download with:            ddl get URL --tracker \(trackerURL)\(trust) --token \(shown)",
        ]
        if fingerprint == nil { lines.append("ddl tracker: --plain-http: the token travels in clear text on the LAN; see SECURITY.md") }
        return lines
    }

    /// The lines `ddl tracker` prints with the dashboard's address. With a token, the link
    /// carries it in the fragment (`#token=…`), which the browser never sends to the server;
    /// a configured token is not printed. With TLS, a browser warns about the self-signed
    /// certificate: the line says which fingerprint to expect.
    public static func dashboardLines(host: String, port: Int, token: String?, generated: Bool, fingerprint: CertificateFingerprint? = nil) -> [String] {
        let base = baseURL(host: host, port: port, tls: fingerprint != nil) + "/"
        var lines: [String]
        if let token {
            let shown = generated ? token.addingPathPercentEncoding() : "<your token>"
            lines = ["ddl tracker: dashboard:                 \(base)#token=\(shown)"]
        } else {
            lines = ["ddl tracker: dashboard:                 \(base)"]
        }
        if let fingerprint {
            lines.append("ddl tracker: the browser warns about the self-signed certificate; accept it only if its SHA-256 public key is \(fingerprint.base64) (base64 of the fingerprint)")
        }
        return lines
    }

    /// The tracker's URL for the join commands and the dashboard link.
    static func baseURL(host: String, port: Int, tls: Bool) -> String {
        "\(tls ? "https" : "http")://\(advertisedHost(for: host)):\(port)"
    }

    /// The bind address, or for a wildcard bind this machine's first non-loopback IPv4
    /// address (else its host name).
    static func advertisedHost(for host: String) -> String {
        guard host == "0.0.0.0" || host == "::" || host.isEmpty else { return host.contains(":") ? "[\(host)]" : host }
        let devices = (try? System.enumerateDevices()) ?? []
        for device in devices {
            if case let .v4(address)? = device.address, let ip = SocketAddress.v4(address).ipAddress, !ip.hasPrefix("127.") {
                return ip
            }
        }
        return ProcessInfo.processInfo.hostName
    }
}
