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
        try done.partFile.moveToFinal(done.path, overwrite: configuration.overwrite)
        try ControlFile.syncDirectory(of: done.path)
        done.control?.remove()
        let seconds = (ContinuousClock.now - done.started).seconds
        let shares = done.traffic.map { DownloadSummary.SourceShare(source: $0.key, bytes: $0.value, pieces: done.pieces[$0.key] ?? 0) }
            .sorted { $0.bytes > $1.bytes }
        let summary = DownloadSummary(
            url: done.file.url, path: done.path, bytes: done.bytes, seconds: seconds, sha256: digests.sha256, mode: done.mode, sources: shares,
            banned: done.banned)
        observer.handle(.finished(summary))
        return summary
    }
}
