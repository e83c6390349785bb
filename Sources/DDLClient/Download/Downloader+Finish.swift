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
        /// Of those, bytes each peer served from its cache (see ``TransferCounters/cached(_:from:)``).
        var cached: [String: Int64] = [:]
        /// Pieces each source completed.
        let pieces: [String: Int]
        let banned: [String]
        /// How the spot checks came out, per source.
        var checks: [String: CheckOutcomes] = [:]
        /// Bytes from untrusted sources that no spot check could settle.
        var unverified: [UnverifiedRange] = []
        /// The digests to verify the file against.
        let lookup: DigestLookup
        /// Digests computed during the transfer, if any.
        let digests: Digests?
        /// The end check, when the transfer made it already (to repair what it found).
        var endCheck: EndCheck?
        /// Pieces fetched again after an end check failed and the wrong bytes were found.
        var repaired = 0
        /// This machine's peer, to hand the verified file to (see ``LocalSeeder``).
        var seeder: LocalSeeder?
        /// The file as the download last saw it (its URL and validator), for the seeder.
        var seedFile: RemoteFile?
    }

    /// The file compared with the digest it should have.
    struct EndCheck: Sendable {
        let choice: DigestChoice
        /// The file's digests (including the expected one's algorithm).
        let digests: Digests
        let verdict: IntegrityVerdict
    }

    /// Compares the file with the digest to verify, once the lookup of checksum files is
    /// over: the digests computed during the transfer (`hashed`), plus the expected one's
    /// algorithm read back when it was not among them.
    func endCheck(lookup: DigestLookup, partFile: PartFile, hashed: Digests?) async throws -> EndCheck {
        let (choice, digests) = try await digestsToCompare(lookup: lookup, partFile: partFile, hashed: hashed)
        return EndCheck(choice: choice, digests: digests, verdict: IntegrityVerdict.check(choice.expected, against: digests))
    }

    /// The end of every download: sync, digests (read back unless computed during the
    /// transfer), the integrity verdict (a digest that matches also vouches for bytes no spot
    /// check could settle), rename to the final name, summary.
    func finish(_ done: Finishing) async throws -> DownloadSummary {
        logger.debug("transfer done", metadata: ["at": "\((ContinuousClock.now - done.started).seconds)"])
        try await done.partFile.sync()
        logger.debug("synced", metadata: ["at": "\((ContinuousClock.now - done.started).seconds)"])
        let check = if let made = done.endCheck { made } else { try await endCheck(lookup: done.lookup, partFile: done.partFile, hashed: done.digests) }
        let (choice, digests, verdict) = (check.choice, check.digests, check.verdict)
        let conflicts = choice.conflicts(with: digests)
        for conflict in conflicts {
            logger.warning("published digests disagree", metadata: ["conflict": "\(conflict)"])
            observer.handle(.notice("WARNING: \(conflict)"))
        }
        let integrity: IntegrityReport
        switch verdict {
        case let .mismatch(expected, got):
            // Every byte is on disk (synced above): a run with --checksum none keeps them, but
            // for the pieces no spot check could settle, which a run fetches again.
            try? await done.control?.saveAllComplete(except: Set(done.unverified.map(\.piece)))
            throw DownloadError.integrity(mismatchMessage(expected: expected, got: got, choice: choice, digests: digests, partPath: done.partFile.path))
        case let .match(expected):
            logger.info("digest verified", metadata: ["digest": "\(expected.summary)"])
            integrity = .verified(algorithm: expected.algorithm.rawValue, source: expected.source.description)
            if !done.unverified.isEmpty {
                observer.handle(.notice(
                    "\(done.unverified.count) spot-check window\(done.unverified.count == 1 ? "" : "s") could not be settled, but the file matches \(expected.summary)"))
            }
        case .none:
            guard done.unverified.isEmpty else { throw unverifiedError(done) }
            integrity = done.lookup.mode == .off ? .notChecked : .notPublished
        }
        // Complete: this machine's peer may keep serving from the file (before the rename, so
        // that the peer never writes a file under its final name), all of it when it matched
        // a digest, else only what the peer fetched itself.
        var seeded: Int64?
        if let seeder = done.seeder, let file = done.seedFile {
            let verified = if case .match = verdict { true } else { false }
            let answer = await seeder.offer(
                file, length: done.bytes, path: done.partFile.path, complete: true, verified: verified, wait: configuration.seedWait)
            if let answer, answer.shared {
                // Verified, the peer serves all of it once it has read it (right after answering).
                seeded = verified ? done.bytes : (answer.storedBytes > 0 ? answer.storedBytes : nil)
            }
        }
        try done.partFile.moveToFinal(done.path, overwrite: configuration.overwrite)
        try ControlFile.syncDirectory(of: done.path)
        done.control?.remove()
        let seconds = (ContinuousClock.now - done.started).seconds
        let shares = Set(done.traffic.keys).union(done.checks.keys).map {
            DownloadSummary.SourceShare(
                source: $0, bytes: done.traffic[$0] ?? 0, cachedBytes: min(done.traffic[$0] ?? 0, done.cached[$0] ?? 0),
                pieces: done.pieces[$0] ?? 0, checks: done.checks[$0])
        }
        .sorted { ($0.bytes, $1.source) > ($1.bytes, $0.source) }
        let summary = DownloadSummary(
            url: URLIdentity.printable(done.file.url), path: done.path, bytes: done.bytes, seconds: seconds, sha256: digests.sha256, mode: done.mode, sources: shares,
            banned: done.banned, integrity: integrity, digestConflicts: conflicts, repairedPieces: done.repaired, seededBytes: seeded)
        observer.handle(.finished(summary))
        return summary
    }

    /// The digest to verify (once the lookup of checksum files is over) and the file's
    /// digests: those computed during the transfer, plus the expected one's algorithm read
    /// back when it was not among them (a checksum file named it after the transfer began).
    private func digestsToCompare(lookup: DigestLookup, partFile: PartFile, hashed: Digests?) async throws -> (DigestChoice, Digests) {
        let found = try await lookup.all()
        guard let hashed else {
            // Nothing hashed yet (one stream): one read-back computes all that is needed.
            let choice = DigestChoice(found, computed: configuration.computeSHA256 ? [.sha256] : [])
            return (choice, try await partFile.digests(sha256: configuration.computeSHA256, extra: choice.expected?.algorithm))
        }
        let choice = DigestChoice(found, computed: Set(hashed.values.keys))
        guard let expected = choice.expected, hashed[expected.algorithm] == nil else { return (choice, hashed) }
        observer.handle(.notice("reading \(partFile.path) back to check \(expected.summary)"))
        return (choice, hashed.merging(try await partFile.digests(sha256: false, extra: expected.algorithm)))
    }

    /// Says what differs, where the expected digest came from, what is kept, and what to do.
    func mismatchMessage(expected: PublishedDigest, got: String, choice: DigestChoice, digests: Digests, partPath: String) -> String {
        var message = "checksum mismatch: expected \(expected.algorithm.rawValue) \(expected.hex)"
        if expected.source != .user { message += " (published in \(expected.source))" }
        message += ", got \(got)"
        let agreeing = choice.othersMatching(digests)
        if !agreeing.isEmpty {
            message += "; the file does match \(agreeing.map(\.summary).joined(separator: ", ")): the published digests disagree"
        }
        message += "; the download is kept at \(partPath) and was not renamed"
        if expected.source != .user {
            message += " (run the same command again with --no-resume to download it afresh, or with --checksum none to keep these bytes)"
        }
        return message
    }

    /// The download's end when bytes from peers could not be checked and no publisher's
    /// digest vouches for the file: exit 5, the part file and control file kept (the control
    /// file does not record those pieces, so running again fetches them again).
    private func unverifiedError(_ done: Finishing) -> DownloadError {
        let shown = done.unverified.prefix(5).map { "  \($0)" }.joined(separator: "\n")
        let more = done.unverified.count > 5 ? "\n  and \(done.unverified.count - 5) more" : ""
        let digest = done.lookup.mode == .auto ? "pass the publisher's digest with --checksum (none was published)" : "pass the publisher's digest with --checksum"
        return .integrity("""
            \(done.unverified.count) window\(done.unverified.count == 1 ? "" : "s") of bytes from peers could not be checked against the \
            origin, so the file is not trusted:
            \(shown)\(more)
            The download is kept at \(done.partFile.path); run the same command again to fetch those pieces again, or \(digest).
            """)
    }
}
