extension Downloader {
    /// How this download looks for a digest to verify: the user's `--checksum`, or `auto`
    /// (the default), or `none`.
    var digestMode: DigestLookup.Mode {
        if let checksum = configuration.checksum { return .explicit(checksum) }
        return configuration.discoverDigests ? .auto : .off
    }

    /// Runs `body` (the transfer and its finish) with the digests to verify: those known from
    /// the probe at once, and in `auto` mode the checksum files next to the URL, looked up in
    /// a task alongside so that the transfer never waits for them. The lookup is cancelled
    /// when `body` ends first (it fails, or is interrupted).
    func withDigestLookup<T: Sendable>(for file: RemoteFile, _ body: (DigestLookup) async throws -> T) async throws -> T {
        let lookup = DigestLookup(mode: digestMode, headers: file.publishedDigests)
        if !lookup.known.isEmpty, lookup.mode == .auto {
            logger.info("the origin's headers state digests", metadata: ["digests": "\(lookup.known.map(\.summary))"])
        }
        guard lookup.looksForSidecars else { return try await body(lookup) }
        let sidecars = SidecarLookup(httpClient: httpClient, logger: logger, timeout: .seconds(Int64(configuration.digestLookupTimeoutSeconds)))
        let url = configuration.url
        return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
            group.addTask { await lookup.found(await sidecars.digests(nextTo: url)) }
            let value = try await body(lookup)
            group.cancelAll()
            return value
        }
    }
}
