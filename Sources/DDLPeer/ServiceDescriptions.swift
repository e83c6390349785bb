// service-lifecycle logs every service as "\(service)" (at debug level, and in errors). A
// struct without a description prints all its stored properties, which put the swarm token
// (in the configuration and the tracker client) into `--log-level debug` output. Each
// service of the peer therefore names itself, and the types that hold the token redact it.

extension DeferredRegistration: CustomStringConvertible {
    var description: String { "TrackerRegistration(tracker: \(tracker.baseURL))" }
}

extension TrackerRegistration: CustomStringConvertible {
    public var description: String { "TrackerRegistration(tracker: \(tracker.baseURL))" }
}

extension HTTPClientLifetime: CustomStringConvertible {
    var description: String { "HTTPClientLifetime" }
}

extension PeerConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "PeerConfiguration(host: \(host), port: \(port), tracker: \(trackerURLs.isEmpty ? "none" : trackerURLs.joined(separator: ", ")), token: \(token == nil ? "none" : "<redacted>"), "
            + "allowNetworks: \(allowNetworks), maxConcurrentFetches: \(maxConcurrentFetches))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}

extension SeedSocket: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    var description: String { "SeedSocket(path: \(path))" }
    var debugDescription: String { description }
    var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
