import DDLCore

extension Downloader {
    /// What a finished transfer hands to ``finish(_:)``.
    struct Finishing {
        let file: RemoteFile
        let path: String
        let partFile: PartFile
        let control: ControlFile?
        let mode: String
        let started: ContinuousClock.Instant
        /// The file's length.
        let bytes: Int64
        /// Bytes each source sent (including spot-check traffic).
        let traffic: [String: Int64]
        /// Pieces each source completed.
        let pieces: [String: Int]
        let banned: [String]
        /// How the spot checks came out, per source.
        var checks: [String: CheckOutcomes] = [:]
        /// Bytes from untrusted sources that no spot check could settle.
        var unverified: [UnverifiedRange] = []
        /// Digests computed during the transfer, if any.
        let digests: Digests?
    }

    /// The end of every download: sync, digests (read back unless computed during the
    /// transfer), the `--checksum` verdict, rename to the final name, summary.
    func finish(_ done: Finishing) async throws -> DownloadSummary {
        logger.debug("transfer done", metadata: ["at": "\((ContinuousClock.now - done.started).seconds)"])
        try await done.partFile.sync()
        logger.debug("synced", metadata: ["at": "\((ContinuousClock.now - done.started).seconds)"])
        let digests: Digests
        if let hashed = done.digests {
            digests = hashed
        } else {
            digests = try await done.partFile.digests(sha256: configuration.computeSHA256, extra: configuration.checksum?.algorithm)
        }
        if let expected = configuration.checksum, digests.extra != expected.hex {
            throw DownloadError.integrity(
                "checksum mismatch: expected \(expected.algorithm.rawValue) \(expected.hex), got \(digests.extra ?? "-"); the download is kept at \(done.partFile.path) and was not renamed")
        }
        if !done.unverified.isEmpty {
            guard configuration.checksum != nil else { throw unverifiedError(done) }
            observer.handle(.notice(
                "\(done.unverified.count) spot-check window\(done.unverified.count == 1 ? "" : "s") could not be settled, but the file matches the checksum"))
        }
        try done.partFile.moveToFinal(done.path, overwrite: configuration.overwrite)
        try ControlFile.syncDirectory(of: done.path)
        done.control?.remove()
        let seconds = (ContinuousClock.now - done.started).seconds
        let shares = Set(done.traffic.keys).union(done.checks.keys).map {
            DownloadSummary.SourceShare(source: $0, bytes: done.traffic[$0] ?? 0, pieces: done.pieces[$0] ?? 0, checks: done.checks[$0])
        }
        .sorted { ($0.bytes, $1.source) > ($1.bytes, $0.source) }
        let summary = DownloadSummary(
            url: done.file.url, path: done.path, bytes: done.bytes, seconds: seconds, sha256: digests.sha256, mode: done.mode, sources: shares,
            banned: done.banned)
        observer.handle(.finished(summary))
        return summary
    }

    /// The download's end when bytes from peers could not be checked and no publisher's
    /// digest vouches for the file: exit 5, the part file and control file kept (the control
    /// file does not record those pieces, so running again fetches them again).
    private func unverifiedError(_ done: Finishing) -> DownloadError {
        let shown = done.unverified.prefix(5).map { "  \($0)" }.joined(separator: "\n")
        let more = done.unverified.count > 5 ? "\n  and \(done.unverified.count - 5) more" : ""
        return .integrity("""
            \(done.unverified.count) window\(done.unverified.count == 1 ? "" : "s") of bytes from peers could not be checked against the \
            origin, so the file is not trusted:
            \(shown)\(more)
            The download is kept at \(done.partFile.path); run the same command again to fetch those pieces again, or pass the \
            publisher's --checksum.
            """)
    }
}
