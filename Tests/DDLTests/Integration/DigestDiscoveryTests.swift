import Crypto
import DDLApp
import DDLClient
import DDLCore
import DDLTestOrigin
import Foundation
import Testing

/// `--checksum auto`: the digests an origin publishes in its headers and in checksum files
/// next to the file are found and verified; wrong ones fail the download like a wrong
/// `--checksum`; malformed ones are ignored.
@Suite struct DigestDiscoveryTests {
    static let size: Int64 = 1 << 20 + 4097

    /// How the published digest looks.
    enum Variant: String, CaseIterable, Sendable {
        case right, wrong, malformed
    }

    func options(peers: [String] = []) -> LocalSwarm.Options {
        var options = LocalSwarm.Options()
        options.originSize = Self.size
        options.peerHosts = peers
        return options
    }

    func configuration(_ url: String, directory: String, name: String = "file.bin") -> ClientConfiguration {
        var configuration = ClientConfiguration(url: url)
        configuration.outputFile = directory + "/" + name
        configuration.pieceSize = 256 << 10
        configuration.connections = 2
        return configuration
    }

    /// Downloads `file.bin` from `swarm` and checks the outcome `variant` calls for: verified
    /// from `source`, an integrity failure that keeps `.part` and `.ddl` (`.ddl` only in pieces),
    /// or nothing published.
    func expect(
        _ variant: Variant, source: String, algorithm: String, swarm: LocalSwarm, segmented: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let directory = try makeTemporaryDirectory()
        let path = directory + "/file.bin"
        let observer = RecordingObserver()
        let result: Result<DownloadSummary, DownloadError>
        do throws(DownloadError) {
            result = .success(try await download(configuration(swarm.fileURL(), directory: directory), observer: observer))
        } catch {
            result = .failure(error)
        }
        let content = swarm.origin!.content
        switch (variant, result) {
        case let (.right, .success(summary)):
            #expect(summary.integrity == .verified(algorithm: algorithm, source: source), sourceLocation: sourceLocation)
            #expect(summary.digestConflicts.isEmpty, sourceLocation: sourceLocation)
            #expect(try sha256(ofFile: path) == content.sha256(), sourceLocation: sourceLocation)
            // SHA-256 is computed during the transfer: only another algorithm named after the
            // transfer began (by a checksum file) is read back.
            let readBack = observer.notices.contains { $0.contains("back to check") }
            #expect(readBack == (algorithm == "sha-512" && !source.hasPrefix("Repr") && segmented), "notices: \(observer.notices)", sourceLocation: sourceLocation)
        case let (.malformed, .success(summary)):
            #expect(summary.integrity == .notPublished, sourceLocation: sourceLocation)
            #expect(try sha256(ofFile: path) == content.sha256(), sourceLocation: sourceLocation)
        case let (.wrong, .failure(error)):
            #expect(error.exitCode == 5, sourceLocation: sourceLocation)
            #expect(error.description.contains("checksum mismatch") && error.description.contains(source), "\(error)", sourceLocation: sourceLocation)
            #expect(!FileManager.default.fileExists(atPath: path), sourceLocation: sourceLocation)
            #expect(FileManager.default.fileExists(atPath: path + ".part"), sourceLocation: sourceLocation)
            #expect(FileManager.default.fileExists(atPath: path + ".ddl") == segmented, sourceLocation: sourceLocation)
            #expect(try sha256(ofFile: path + ".part") == content.sha256(), sourceLocation: sourceLocation)
        default:
            Issue.record("\(variant) digest from \(source): unexpected \(result)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Headers

    /// A digest header, right, wrong or malformed.
    enum Header: String, CaseIterable, Sendable {
        case reprSHA256, reprSHA512, digestSHA256, amazon

        var name: String {
            switch self {
            case .reprSHA256, .reprSHA512: "Repr-Digest"
            case .digestSHA256: "Digest"
            case .amazon: "x-amz-checksum-sha256"
            }
        }

        var algorithm: String { self == .reprSHA512 ? "sha-512" : "sha-256" }

        func value(_ variant: Variant, origin: TestOrigin) -> String {
            let sha256 = origin.digest(SHA256.self).base64
            let sha512 = origin.digest(SHA512.self).base64
            let zero256 = Data(count: 32).base64EncodedString()
            switch (self, variant) {
            case (.reprSHA256, .right): return "sha-256=:\(sha256):"
            case (.reprSHA256, .wrong): return "sha-256=:\(zero256):"
            case (.reprSHA256, .malformed): return "sha-256=\(sha256)"
            case (.reprSHA512, .right): return "sha-512=:\(sha512):"
            case (.reprSHA512, .wrong): return "sha-512=:\(Data(count: 64).base64EncodedString()):"
            case (.reprSHA512, .malformed): return "sha-512=:\(sha256):"
            case (.digestSHA256, .right): return "SHA-256=\(sha256)"
            case (.digestSHA256, .wrong): return "SHA-256=\(zero256)"
            case (.digestSHA256, .malformed): return "SHA-256=\(origin.digest(SHA256.self).hex)"
            case (.amazon, .right): return sha256
            case (.amazon, .wrong): return zero256
            case (.amazon, .malformed): return sha256 + "-3"  // a multipart composite
            }
        }
    }

    @Test(arguments: Header.allCases, Variant.allCases)
    func digestHeadersAreVerified(header: Header, variant: Variant) async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            origin.update { $0.digestHeaders = [header.name: header.value(variant, origin: origin)] }
            try await expect(variant, source: header.name, algorithm: header.algorithm, swarm: swarm)
        }
    }

    /// `Content-Digest` describes the message content: the file's only on a `200` to a `GET`
    /// (an origin without ranges, downloaded in one stream).
    @Test(arguments: Variant.allCases)
    func contentDigestOfAWhole200IsVerified(variant: Variant) async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            let value = switch variant {
            case .right: "sha-256=:\(origin.digest(SHA256.self).base64):"
            case .wrong: "sha-256=:\(Data(count: 32).base64EncodedString()):"
            case .malformed: "sha-256=:\(origin.digest(SHA256.self).hex):"
            }
            origin.update {
                $0.noRange = true
                $0.digestHeaders = ["Content-Digest": value]
            }
            try await expect(variant, source: "Content-Digest", algorithm: "sha-256", swarm: swarm, segmented: false)
        }
    }

    /// Right digests in headers that do not describe the file: `Content-Digest` on a `HEAD`
    /// or a `206`, anything under a content coding, an S3 composite checksum.
    @Test(arguments: ["head", "206", "gzip", "composite"])
    func digestsThatDoNotDescribeTheFileAreNotUsed(kind: String) async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            let sha256 = origin.digest(SHA256.self).base64
            origin.update { faults in
                switch kind {
                case "head":
                    faults.digestHeaders = ["Content-Digest": "sha-256=:\(sha256):"]
                case "206":
                    faults.headStatus = 405  // probed with a ranged GET: 206
                    faults.digestHeaders = ["Content-Digest": "sha-256=:\(sha256):", "Digest": "SHA-256=\(sha256)"]
                case "gzip":
                    faults.contentEncoding = "gzip"
                    faults.digestHeaders = ["Repr-Digest": "sha-256=:\(sha256):", "x-amz-checksum-sha256": sha256]
                default:
                    faults.digestHeaders = ["x-amz-checksum-sha256": sha256, "x-amz-checksum-type": "COMPOSITE"]
                }
            }
            try await expect(.malformed, source: "", algorithm: "", swarm: swarm)
        }
    }

    // MARK: Checksum files

    /// A checksum file next to the download.
    enum ChecksumFileKind: String, CaseIterable, Sendable {
        case sha256, sha256sum, sha512, sha256Sums, sha512Sums

        var name: String {
            switch self {
            case .sha256: "file.bin.sha256"
            case .sha256sum: "file.bin.sha256sum"
            case .sha512: "file.bin.sha512"
            case .sha256Sums: "SHA256SUMS"
            case .sha512Sums: "SHA512SUMS"
            }
        }

        var algorithm: String { self == .sha512 || self == .sha512Sums ? "sha-512" : "sha-256" }

        func body(_ variant: Variant, origin: TestOrigin) -> String {
            var hex = algorithm == "sha-512" ? origin.digest(SHA512.self).hex : origin.digest(SHA256.self).hex
            switch variant {
            case .right: break
            case .wrong: hex = String(repeating: "0", count: hex.count)
            case .malformed: hex = String(hex.dropLast())
            }
            let other = String(repeating: "e", count: hex.count)
            switch self {
            case .sha256: return hex + "\n"
            case .sha256sum: return "\(hex)  file.bin\n"
            case .sha512: return "SHA512 (file.bin) = \(hex)\n"
            case .sha256Sums: return "\(other)  file.bin.sig\n\(hex)  file.bin\n\(other)  other.iso\n"
            case .sha512Sums: return "\(other) *other.iso\n\(hex) *file.bin\n"
            }
        }
    }

    @Test(arguments: ChecksumFileKind.allCases, Variant.allCases)
    func checksumFilesAreVerified(kind: ChecksumFileKind, variant: Variant) async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            origin.update { $0.checksumFiles = [kind.name: kind.body(variant, origin: origin)] }
            try await expect(variant, source: kind.name, algorithm: kind.algorithm, swarm: swarm)
            // Every checksum file was asked for, with GET, once.
            let asked = origin.checksumFileRequests.map(\.uri).sorted()
            #expect(asked == ["/files/SHA256SUMS", "/files/SHA512SUMS", "/files/file.bin.sha256", "/files/file.bin.sha256sum", "/files/file.bin.sha512"])
        }
    }

    /// Checksum files that say nothing usable about this file: they list only others, are
    /// missing, fail, or are too big to be one.
    @Test(arguments: ["others", "missing", "error", "huge listing", "huge single"])
    func checksumFilesThatSayNothingAreIgnored(kind: String) async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            let hex = origin.digest(SHA256.self).hex
            origin.update { faults in
                switch kind {
                case "others":
                    faults.checksumFiles = ["SHA256SUMS": "\(hex)  other.bin\n", "file.bin.sha256": "\(hex)  file.bin.old\n"]
                case "missing":
                    break
                case "error":
                    faults.checksumFiles = ["SHA256SUMS": "\(hex)  file.bin\n"]
                    faults.checksumFileStatus = 500
                case "huge listing":
                    faults.checksumFiles = ["SHA256SUMS": "\(hex)  file.bin\n" + String(repeating: "# padding\n", count: 110_000)]
                default:
                    faults.checksumFiles = ["file.bin.sha256": hex + "\n" + String(repeating: " ", count: 5000)]
                }
            }
            try await expect(.malformed, source: "", algorithm: "", swarm: swarm)
        }
    }

    @Test(arguments: [Variant.right, .wrong])
    func aDownloadInOneStreamIsCheckedToo(variant: Variant) async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            origin.update {
                $0.noRange = true
                $0.checksumFiles = ["SHA512SUMS": ChecksumFileKind.sha512Sums.body(variant, origin: origin)]
            }
            try await expect(variant, source: "SHA512SUMS", algorithm: "sha-512", swarm: swarm, segmented: false)
        }
    }

    // MARK: Precedence and conflicts

    @Test func checksumNoneLooksForNothing() async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            origin.update {
                $0.digestHeaders = ["Repr-Digest": Header.reprSHA256.value(.wrong, origin: origin)]
                $0.checksumFiles = ["SHA256SUMS": ChecksumFileKind.sha256Sums.body(.wrong, origin: origin)]
            }
            var configuration = configuration(swarm.fileURL(), directory: try makeTemporaryDirectory())
            configuration.discoverDigests = false
            let summary = try await download(configuration)
            #expect(summary.integrity == .notChecked)
            #expect(summary.sha256 == origin.content.sha256())
            #expect(origin.checksumFileRequests.isEmpty)
            #expect(origin.headRequests == 1)
        }
    }

    @Test func anExplicitChecksumWinsOverPublishedOnes() async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            origin.update {
                $0.digestHeaders = ["Repr-Digest": Header.reprSHA512.value(.wrong, origin: origin)]
                $0.checksumFiles = ["SHA256SUMS": ChecksumFileKind.sha256Sums.body(.wrong, origin: origin)]
            }
            let directory = try makeTemporaryDirectory()
            var configuration = configuration(swarm.fileURL(), directory: directory)
            configuration.checksum = ExpectedChecksum("sha-256=" + origin.content.sha256())
            let summary = try await download(configuration)
            #expect(summary.integrity == .verified(algorithm: "sha-256", source: "--checksum"))
            #expect(origin.checksumFileRequests.isEmpty)

            // And a wrong one fails even when the published ones are right.
            origin.update {
                $0.digestHeaders = ["Repr-Digest": Header.reprSHA256.value(.right, origin: origin)]
                $0.checksumFiles = ["SHA256SUMS": ChecksumFileKind.sha256Sums.body(.right, origin: origin)]
            }
            configuration.outputFile = directory + "/again.bin"
            configuration.checksum = ExpectedChecksum("md5=" + String(repeating: "0", count: 32))
            do throws(DownloadError) {
                _ = try await download(configuration)
                Issue.record("expected a checksum mismatch")
            } catch {
                #expect(error.exitCode == 5)
                #expect(!error.description.contains("published"))
            }
        }
    }

    /// The header of the answer itself decides; a checksum file that disagrees is a warning.
    @Test func aChecksumFileThatContradictsTheHeaderIsAWarning() async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            origin.update {
                $0.digestHeaders = ["Repr-Digest": Header.reprSHA256.value(.right, origin: origin)]
                $0.checksumFiles = ["SHA256SUMS": ChecksumFileKind.sha256Sums.body(.wrong, origin: origin)]
            }
            let observer = RecordingObserver()
            let summary = try await download(configuration(swarm.fileURL(), directory: try makeTemporaryDirectory()), observer: observer)
            #expect(summary.integrity == .verified(algorithm: "sha-256", source: "Repr-Digest"))
            #expect(summary.digestConflicts.count == 1)
            #expect(summary.digestConflicts.first?.contains("SHA256SUMS") == true)
            #expect(observer.notices.contains { $0.hasPrefix("WARNING: SHA256SUMS") }, "notices: \(observer.notices)")
            #expect(ConsoleObserver.summaryLines(summary).contains { $0.hasPrefix("  WARNING  SHA256SUMS states sha-256 0000000000000000…") })
        }
    }

    @Test func aHeaderThatContradictsTheFileFailsAndSaysWhatTheFileMatches() async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            origin.update {
                $0.digestHeaders = ["Repr-Digest": Header.reprSHA256.value(.wrong, origin: origin)]
                $0.checksumFiles = ["SHA256SUMS": ChecksumFileKind.sha256Sums.body(.right, origin: origin)]
            }
            let configuration = configuration(swarm.fileURL(), directory: try makeTemporaryDirectory())
            do throws(DownloadError) {
                _ = try await download(configuration)
                Issue.record("expected a checksum mismatch")
            } catch {
                #expect(error.exitCode == 5)
                #expect(error.description.contains("published in Repr-Digest"), "\(error)")
                #expect(error.description.contains("the file does match sha-256 from SHA256SUMS"), "\(error)")
            }
        }
    }

    /// After a mismatch, `--checksum none` keeps the bytes already downloaded: the resume
    /// finds every piece done and fetches nothing again.
    @Test func afterAMismatchChecksumNoneKeepsTheBytes() async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            origin.update { $0.checksumFiles = ["file.bin.sha256": ChecksumFileKind.sha256.body(.wrong, origin: origin)] }
            let directory = try makeTemporaryDirectory()
            var configuration = configuration(swarm.fileURL(), directory: directory)
            await #expect(throws: DownloadError.self) { try await download(configuration) }
            let served = origin.bytesServed
            configuration.discoverDigests = false
            let summary = try await download(configuration)
            #expect(summary.integrity == .notChecked)
            #expect(summary.sha256 == origin.content.sha256())
            #expect(origin.bytesServed == served)
        }
    }

    /// Bytes from a peer that no spot check could settle (the origin refuses every `GET`,
    /// `429`, so it referees nothing) are vouched for by a published digest that matches, as
    /// by a `--checksum`; a wrong one fails the download.
    @Test(.timeLimit(.minutes(1)), arguments: [Variant.right, .wrong])
    func aPublishedDigestVouchesForBytesNoSpotCheckSettled(variant: Variant) async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            origin.update {
                $0.failNextRequests = 1_000_000
                $0.failStatus = 429
                $0.digestHeaders = ["Repr-Digest": Header.reprSHA256.value(variant, origin: origin)]
            }
            // A peer that serves the right bytes without asking the origin.
            try await AdversaryTests().withFaultyPeers([.scripted { _ in .honest }], swarm: swarm) { _ in
                var configuration = configuration(swarm.fileURL(), directory: try makeTemporaryDirectory())
                configuration.trackerURLs = [swarm.trackerURL]
                configuration.token = swarm.token
                configuration.verifyPeersRate = 1
                configuration.readTimeoutSeconds = 2
                let observer = RecordingObserver()
                do throws(DownloadError) {
                    let summary = try await download(configuration, observer: observer)
                    #expect(variant == .right)
                    #expect(summary.integrity == .verified(algorithm: "sha-256", source: "Repr-Digest"))
                    #expect(observer.notices.contains { $0.contains("could not be settled, but the file matches sha-256 from Repr-Digest") },
                            "notices: \(observer.notices)")
                } catch {
                    #expect(variant == .wrong, "\(error)")
                    #expect(error.exitCode == 5 && error.description.contains("checksum mismatch"), "\(error)")
                }
            }
        }
    }

    // MARK: Where checksum files are asked for

    /// A presigned link (`/signed/…`): the checksum files next to it are not signed, so the
    /// object store answers `403`; that only means there are none.
    @Test func aPresignedDownloadWhoseChecksumFilesAreRefusedSucceeds() async throws {
        try await LocalSwarm.run(options(peers: ["127.0.0.1"])) { swarm in
            let origin = swarm.origin!
            origin.update { $0.checksumFiles = ["SHA256SUMS": ChecksumFileKind.sha256Sums.body(.right, origin: origin)] }
            let directory = try makeTemporaryDirectory()
            var configuration = configuration(swarm.originURL! + "/signed/file.bin", directory: directory)
            configuration.trackerURLs = [swarm.trackerURL]
            configuration.token = swarm.token
            let summary = try await download(configuration)
            #expect(summary.integrity == .notPublished)
            #expect(summary.sha256 == origin.content.sha256())
            let asked = origin.checksumFileRequests
            #expect(asked.count == 5)
            #expect(asked.allSatisfy { $0.uri.hasPrefix("/signed/") && !$0.authorized })
        }
    }

    /// Checksum files are asked for next to the URL given, without its query, and without the
    /// swarm token, also in a swarm.
    @Test func checksumFilesAreAskedForWithoutTheQueryOrTheToken() async throws {
        try await LocalSwarm.run(options(peers: ["127.0.0.1"])) { swarm in
            let origin = swarm.origin!
            origin.update { $0.checksumFiles = ["SHA256SUMS": ChecksumFileKind.sha256Sums.body(.right, origin: origin)] }
            var configuration = configuration(swarm.fileURL() + "?X-Amz-Signature=secret&X-Amz-Expires=60", directory: try makeTemporaryDirectory())
            configuration.trackerURLs = [swarm.trackerURL]
            configuration.token = swarm.token
            let summary = try await download(configuration)
            #expect(summary.mode == "swarm")
            #expect(summary.integrity == .verified(algorithm: "sha-256", source: "SHA256SUMS"))
            #expect(swarm.peerStats[0].bytesServed > 0)
            let asked = origin.checksumFileRequests
            #expect(asked.count == 5)
            #expect(asked.allSatisfy { !$0.uri.contains("?") && !$0.uri.contains("secret") && !$0.authorized && $0.method == "GET" })
        }
    }

    // MARK: Timing

    /// The transfer does not wait for the checksum files; the end does, so that the verdict
    /// does not depend on which came first.
    @Test func theTransferRunsWhileAChecksumFileIsSlowAndTheEndWaitsForIt() async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            origin.update { $0.checksumFiles = ["SHA256SUMS": ChecksumFileKind.sha256Sums.body(.right, origin: origin)] }
            let gate = origin.pauseChecksumFiles()
            var slow = configuration(swarm.fileURL(), directory: try makeTemporaryDirectory())
            slow.digestLookupTimeoutSeconds = 300
            let configuration = slow
            let summary = try await withThrowingTaskGroup(of: DownloadSummary?.self) { group in
                group.addTask { try await download(configuration) }
                group.addTask {
                    #expect(await gate.reached())
                    let transferred = try await eventually(within: 60) { origin.bytesServed >= Self.size }
                    #expect(transferred, "the transfer waited for the checksum files")
                    gate.release()
                    return nil
                }
                var summary: DownloadSummary?
                for try await result in group where result != nil { summary = result }
                return summary
            }
            #expect(summary?.integrity == .verified(algorithm: "sha-256", source: "SHA256SUMS"))
        }
    }

    @Test func aChecksumFileThatNeverAnswersIsGivenUpAfterTheTimeout() async throws {
        try await LocalSwarm.run(options()) { swarm in
            let origin = swarm.origin!
            origin.update { $0.checksumFiles = ["SHA256SUMS": ChecksumFileKind.sha256Sums.body(.wrong, origin: origin)] }
            let gate = origin.pauseChecksumFiles()
            var configuration = configuration(swarm.fileURL(), directory: try makeTemporaryDirectory())
            configuration.digestLookupTimeoutSeconds = 1
            let summary = try await download(configuration)
            #expect(summary.integrity == .notPublished)
            #expect(await gate.reached())
            gate.release()
        }
    }
}
