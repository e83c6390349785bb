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
