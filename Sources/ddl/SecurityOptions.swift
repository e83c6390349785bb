import ArgumentParser
import Configuration

/// `--token` and `--insecure`, shared by `tracker`, `server`, `get` and `peers`.
struct SecurityOptions: ParsableArguments {
    @Option(help: "The swarm's shared secret (config key token, env DDL_TOKEN). The tracker generates and prints one when none is given.")
    var token: String?

    @Flag(help: "Run or join an open swarm without a token (config key insecure). Anyone on the network can then use the swarm.")
    var insecure = false

    /// The values for the config reader's flag layer.
    var flags: [String: ConfigContent?] {
        ["token": token.map { .string($0) }, "insecure": insecure ? .bool(true) : nil]
    }
}

/// Merges two sets of flag values (the right-hand side wins).
func + (lhs: [String: ConfigContent?], rhs: [String: ConfigContent?]) -> [String: ConfigContent?] {
    lhs.merging(rhs) { $1 }
}
