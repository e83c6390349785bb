import ArgumentParser
import Configuration

/// `--token`, `--token-file` and `--insecure`, shared by every role that talks to a swarm.
struct SecurityOptions: ParsableArguments {
    @Option(help: "The swarm's shared secret (config key token, env DDL_TOKEN). The tracker generates and prints one when none is given. Visible in the process list: prefer --token-file.")
    var token: String?

    @Option(help: "Read the swarm's token from this file (config key token_file, env DDL_TOKEN_FILE); it must not be readable by other users (chmod 600).")
    var tokenFile: String?

    @Flag(help: "Run or join an open swarm without a token (config key insecure). Anyone on the network can then use the swarm.")
    var insecure = false

    /// The values for the config reader's flag layer.
    var flags: [String: ConfigContent?] {
        ["token": token.map { .string($0) }, "token_file": tokenFile.map { .string($0) }, "insecure": insecure ? .bool(true) : nil]
    }
}

/// Merges two sets of flag values (the right-hand side wins).
func + (lhs: [String: ConfigContent?], rhs: [String: ConfigContent?]) -> [String: ConfigContent?] {
    lhs.merging(rhs) { $1 }
}

/// `--tracker-fingerprint` and `--plain-http`, shared by the roles that talk to a tracker.
struct TLSOptions: ParsableArguments {
    @Option(name: .customLong("tracker-fingerprint"), help: "The fingerprint of the tracker's certificate, sha256:HEX, as `ddl tracker` prints it: the https tracker is trusted by it alone (repeatable; config key tracker_fingerprint).")
    var trackerFingerprints: [String] = []

    @Flag(help: "A swarm without TLS: accept an http:// tracker and peers that serve plain HTTP; the token and all data then cross the LAN in clear (config key plain_http).")
    var plainHTTP = false

    var flags: [String: ConfigContent?] {
        ["tracker_fingerprint": trackerFingerprints.isEmpty ? nil : .stringArray(trackerFingerprints), "plain_http": plainHTTP ? .bool(true) : nil]
    }
}
