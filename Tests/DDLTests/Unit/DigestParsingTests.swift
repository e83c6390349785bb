import Crypto
@testable import DDLClient
import Foundation
import NIOHTTP1
import Testing

/// The digest headers an origin may send, and which of them describe the whole file.
@Suite struct DigestHeaderTests {
    static let bytes = Data("hello world\n".utf8)
    static let sha256 = Array(SHA256.hash(data: bytes))
    static let sha512 = Array(SHA512.hash(data: bytes))
    static let md5 = Array(Insecure.MD5.hash(data: bytes))

    static func base64(_ digest: [UInt8]) -> String { Data(digest).base64EncodedString() }
    static func hex(_ digest: [UInt8]) -> String { digest.map { String(format: "%02x", $0) }.joined() }

    func digests(_ fields: [(String, String)], status: Int = 200, head: Bool = true) -> [PublishedDigest] {
        DigestHeaders.digests(in: HTTPHeaders(fields), status: status, head: head)
    }

    @Test func reprDigestGivesEveryKnownAlgorithmAndSkipsTheRest() {
        let found = digests([("Repr-Digest", "sha-256=:\(Self.base64(Self.sha256)):, sha=:AAAA:, sha-512=:\(Self.base64(Self.sha512)):;p=1, unixsum=12")])
        #expect(found == [
            PublishedDigest(algorithm: .sha256, hex: Self.hex(Self.sha256), source: .header("Repr-Digest")),
            PublishedDigest(algorithm: .sha512, hex: Self.hex(Self.sha512), source: .header("Repr-Digest")),
        ])
    }

    @Test func reprDigestHoldsOnA206ButNotUnderAContentCoding() {
        let field = ("Repr-Digest", "sha-256=:\(Self.base64(Self.sha256)):")
        #expect(digests([field], status: 206, head: false).count == 1)
        #expect(digests([field, ("Content-Encoding", "identity")]).count == 1)
        #expect(digests([field, ("Content-Encoding", "gzip")]).isEmpty)
        #expect(digests([field, ("Content-Encoding", "identity, br")]).isEmpty)
        #expect(digests([field], status: 404).isEmpty)
    }

    /// RFC 9530 appendix B.2: on a `HEAD` the `Content-Digest` is the empty content's.
    @Test func contentDigestCountsOnlyOnAWhole200ToAGet() {
        let field = ("Content-Digest", "sha-256=:\(Self.base64(Self.sha256)):")
        #expect(digests([field], status: 200, head: false) == [PublishedDigest(algorithm: .sha256, hex: Self.hex(Self.sha256), source: .header("Content-Digest"))])
        #expect(digests([field], status: 200, head: true).isEmpty)
        #expect(digests([field], status: 206, head: false).isEmpty)
        #expect(digests([field, ("Content-Encoding", "gzip")], status: 200, head: false).isEmpty)
    }

    @Test(arguments: [
        "sha-256=\(DigestHeaderTests.base64(DigestHeaderTests.sha256))",  // a token, not a byte sequence
        "sha-256=:\(DigestHeaderTests.base64(DigestHeaderTests.sha256))",  // unterminated
        "sha-256=:not base64!:",
        "sha-256=:\(DigestHeaderTests.base64(DigestHeaderTests.md5)):",  // the wrong length for SHA-256
        "SHA-256=:\(DigestHeaderTests.base64(DigestHeaderTests.sha256)):",  // keys are lowercase: the whole field fails
        "sha-256=:\(DigestHeaderTests.base64(DigestHeaderTests.sha256)):,",  // trailing comma
    ])
    func malformedStructuredFieldsAreIgnored(value: String) {
        #expect(digests([("Repr-Digest", value)]).isEmpty)
    }

    /// RFC 9530 section 1.3: RFC 3230 implementations digested the message content, which on
    /// a `HEAD` is nothing.
    @Test func aDigestOfNoBytesIsNoStatementAboutAFileThatHasSome() {
        let empty = Data(SHA256.hash(data: Data())).base64EncodedString()
        #expect(digests([("Digest", "SHA-256=\(empty)")]).isEmpty)
        #expect(digests([("Repr-Digest", "sha-256=:\(empty):")]).isEmpty)
        #expect(DigestHeaders.digests(in: HTTPHeaders([("Digest", "SHA-256=\(empty)")]), status: 200, head: true, length: 0).count == 1)
    }

    @Test func severalFieldLinesAreOneList() {
        let found = digests([("Repr-Digest", "sha-256=:\(Self.base64(Self.sha256)):"), ("Repr-Digest", "sha-512=:\(Self.base64(Self.sha512)):")])
        #expect(found.map(\.algorithm) == [.sha256, .sha512])
    }

    @Test func rfc3230DigestIsReadOnWhole200s() {
        let field = ("Digest", "SHA-256=\(Self.base64(Self.sha256)), md5=\(Self.base64(Self.md5)), SHA=AAAA, UNIXsum=30637")
        #expect(digests([field]) == [
            PublishedDigest(algorithm: .sha256, hex: Self.hex(Self.sha256), source: .header("Digest")),
            PublishedDigest(algorithm: .md5, hex: Self.hex(Self.md5), source: .header("Digest")),
        ])
        #expect(digests([field], status: 200, head: false).count == 2)
        #expect(digests([field], status: 206, head: false).isEmpty)
        #expect(digests([("Digest", "SHA-256=\(Self.hex(Self.sha256))")]).isEmpty)  // hex, not base64
        #expect(digests([("Digest", "SHA-256=\(Self.base64(Self.md5))")]).isEmpty)  // wrong length
    }

    @Test func amazonFullObjectChecksumsCountAndCompositeOnesDoNot() {
        let value = Self.base64(Self.sha256)
        let expected = [PublishedDigest(algorithm: .sha256, hex: Self.hex(Self.sha256), source: .header("x-amz-checksum-sha256"))]
        #expect(digests([("x-amz-checksum-sha256", value)]) == expected)
        #expect(digests([("x-amz-checksum-sha256", value), ("x-amz-checksum-type", "FULL_OBJECT")], status: 206, head: false) == expected)
        #expect(digests([("x-amz-checksum-sha256", value + "-3")]).isEmpty)
        #expect(digests([("x-amz-checksum-sha256", value), ("x-amz-checksum-type", "COMPOSITE")]).isEmpty)
        #expect(digests([("x-amz-checksum-sha256", "nonsense")]).isEmpty)
    }
}

/// Checksum files: `SHA256SUMS` listings and files for one download.
@Suite struct ChecksumFileTests {
    static let a = String(repeating: "a", count: 64)
    static let b = String(repeating: "b", count: 64)
    static let long = String(repeating: "c", count: 128)

    func listing(_ text: String, for name: String = "file.iso") -> PublishedDigest? {
        ChecksumFile.digest(for: name, in: text, algorithm: .sha256, single: false, source: "SHA256SUMS")
    }

    func single(_ text: String, _ algorithm: ExpectedChecksum.Algorithm = .sha256, for name: String = "file.iso") -> PublishedDigest? {
        ChecksumFile.digest(for: name, in: text, algorithm: algorithm, single: true, source: name + ".sha256")
    }

    @Test(arguments: [
        "\(ChecksumFileTests.a)  file.iso\n",  // GNU text mode
        "\(ChecksumFileTests.a) *file.iso\n",  // GNU binary mode
        "\(ChecksumFileTests.b)  other.iso\n\(ChecksumFileTests.a)  file.iso\n\(ChecksumFileTests.b)  file.iso.sig\n",
        "\(ChecksumFileTests.a)  ./file.iso\r\n",
        "# comment\n\n\(ChecksumFileTests.a.uppercased())  file.iso\n",
        "SHA256 (file.iso) = \(ChecksumFileTests.a)\n",  // BSD, sha256sum --tag
        "SHA2-256(file.iso)= \(ChecksumFileTests.a)\n",  // OpenSSL 3
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n\(ChecksumFileTests.a)  file.iso\n-----BEGIN PGP SIGNATURE-----\niQEzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----\n",
        "\(ChecksumFileTests.a)  file.iso\n\(ChecksumFileTests.a)  file.iso\n",  // the same line twice
    ])
    func listingsNameTheFile(text: String) {
        #expect(listing(text) == PublishedDigest(algorithm: .sha256, hex: Self.a, source: .sidecar("SHA256SUMS")))
    }

    @Test(arguments: [
        "\(ChecksumFileTests.b)  other.iso\n",  // only other files
        "\(ChecksumFileTests.a)  dir/file.iso\n",  // another file of that name, elsewhere
        "\(ChecksumFileTests.a)  file.iso.part\n",
        "\(ChecksumFileTests.a)\n",  // a bare digest names nothing in a listing
        "\(ChecksumFileTests.a)  file.iso\n\(ChecksumFileTests.b)  file.iso\n",  // two answers: neither is trusted
        "\(ChecksumFileTests.a.dropLast())  file.iso\n",  // too short
        "\(ChecksumFileTests.long)  file.iso\n",  // a SHA-512 in a SHA-256 listing
        "\(ChecksumFileTests.a.dropLast())g  file.iso\n",  // not hex
        "\(ChecksumFileTests.a)file.iso\n",
        "<html><body>Not Found</body></html>\n",
        "",
    ])
    func listingsThatStateNothingForTheFile(text: String) {
        #expect(listing(text) == nil)
    }

    @Test func bsdLinesCarryTheirAlgorithm() {
        #expect(listing("SHA512 (file.iso) = \(Self.long)\n")?.algorithm == .sha512)
        #expect(listing("MD5 (file.iso) = \(String(repeating: "d", count: 32))\n")?.algorithm == .md5)
        #expect(listing("CRC32 (file.iso) = 12345678\n") == nil)
        #expect(listing("SHA256 (file (1).iso) = \(Self.a)\n", for: "file (1).iso")?.hex == Self.a)
    }

    @Test func escapedNamesAreUnescaped() {
        #expect(listing("\\\(Self.a)  back\\\\slash.iso\n", for: "back\\slash.iso")?.hex == Self.a)
    }

    @Test func singleFilesHoldABareDigestOrNameTheFile() {
        #expect(single("\(Self.a)\n")?.hex == Self.a)
        #expect(single("  \(Self.a)  \n")?.hex == Self.a)
        #expect(single("\(Self.a)  file.iso\n")?.hex == Self.a)
        #expect(single("\(Self.a) *build/out/file.iso\n")?.hex == Self.a)
        #expect(single("\(Self.long)\n", .sha512)?.algorithm == .sha512)
        #expect(single("\(Self.a)  other.iso\n") == nil)
        #expect(single("\(Self.long)\n") == nil)  // a SHA-512 in a .sha256
        #expect(single("\(Self.a)\n\(Self.b)\n") == nil)
        #expect(single("not a digest\n") == nil)
        #expect(single("\(Self.a)\0\n") == nil)
    }
}

/// Where the checksum files are looked for.
@Suite struct SidecarURLTests {
    @Test func sidecarsReplaceTheLastSegmentAndDropTheQuery() throws {
        let found = try #require(SidecarLookup.sidecars(nextTo: "https://cdn.example:8443/pub/v1/file%20one.iso?X-Amz-Signature=abc&x=1#frag"))
        #expect(found.fileName == "file one.iso")
        #expect(found.sidecars.map(\.url) == [
            "https://cdn.example:8443/pub/v1/file%20one.iso.sha512",
            "https://cdn.example:8443/pub/v1/file%20one.iso.sha256",
            "https://cdn.example:8443/pub/v1/file%20one.iso.sha256sum",
            "https://cdn.example:8443/pub/v1/SHA512SUMS",
            "https://cdn.example:8443/pub/v1/SHA256SUMS",
        ])
        #expect(found.sidecars.map(\.name) == ["file one.iso.sha512", "file one.iso.sha256", "file one.iso.sha256sum", "SHA512SUMS", "SHA256SUMS"])
        #expect(found.sidecars.map(\.single) == [true, true, true, false, false])
        #expect(found.sidecars.map(\.maxBytes) == [4096, 4096, 4096, 1 << 20, 1 << 20])
        #expect(found.sidecars.map(\.algorithm) == [.sha512, .sha256, .sha256, .sha512, .sha256])
    }

    @Test func aURLThatNamesNoFileHasNoSidecars() {
        #expect(SidecarLookup.sidecars(nextTo: "https://example.org/dir/") == nil)
        #expect(SidecarLookup.sidecars(nextTo: "https://example.org") == nil)
        #expect(SidecarLookup.sidecars(nextTo: "ftp://example.org/file.iso") == nil)
        #expect(SidecarLookup.sidecars(nextTo: "https://example.org/a%2Fb") == nil)
        #expect(SidecarLookup.sidecars(nextTo: "http://example.org/file.iso")?.sidecars.first?.url == "http://example.org/file.iso.sha512")
    }

    @Test func aRedirectFromHTTPSToHTTPIsADowngrade() {
        #expect(SidecarLookup.downgraded(["https://a/x", "http://b/x"]))
        #expect(SidecarLookup.downgraded(["https://a/x", "https://b/x", "HTTP://c/x"]))
        #expect(!SidecarLookup.downgraded(["http://a/x", "https://b/x"]))
        #expect(!SidecarLookup.downgraded(["http://a/x", "http://b/x"]))
        #expect(!SidecarLookup.downgraded(["https://a/x"]))
    }
}

/// Which digest is verified, and what is reported when they disagree.
@Suite struct DigestChoiceTests {
    static let fileSHA256 = String(repeating: "1", count: 64)
    static let fileSHA512 = String(repeating: "2", count: 128)
    static let fileMD5 = String(repeating: "3", count: 32)
    static let file = Digests(values: [.sha256: fileSHA256, .sha512: fileSHA512, .md5: fileMD5])

    func digest(_ algorithm: ExpectedChecksum.Algorithm, _ source: PublishedDigest.Source, right: Bool = true) -> PublishedDigest {
        let hex = Self.file[algorithm]!
        return PublishedDigest(algorithm: algorithm, hex: right ? hex : String(repeating: "f", count: hex.count), source: source)
    }

    @Test func theStrongestComputedDigestWinsAndTheHeadersBeforeFiles() {
        let header512 = digest(.sha512, .header("Repr-Digest"))
        let sums256 = digest(.sha256, .sidecar("SHA256SUMS"))
        let sums512 = digest(.sha512, .sidecar("SHA512SUMS"))
        let md5 = digest(.md5, .header("Digest"))
        #expect(DigestChoice([sums256, header512], computed: [.sha256, .sha512]).expected == header512)
        // The SHA-256 computed during the transfer is used rather than reading the file back.
        #expect(DigestChoice([sums512, sums256], computed: [.sha256]).expected == sums256)
        #expect(DigestChoice([sums256, sums512], computed: []).expected == sums512)
        // MD5 only when nothing better is published, even when it is computed and the other not.
        #expect(DigestChoice([md5, sums512], computed: [.md5, .sha256]).expected == sums512)
        #expect(DigestChoice([md5], computed: [.md5]).expected == md5)
        // Among one algorithm: Repr-Digest, Content-Digest, x-amz, Digest; a file for this
        // download alone; a listing.
        let order: [PublishedDigest.Source] = [
            .header("Repr-Digest"), .header("Content-Digest"), .header("x-amz-checksum-sha256"), .header("Digest"),
            .sidecar("file.iso.sha256"), .sidecar("SHA256SUMS"),
        ]
        for (index, source) in order.enumerated() {
            let candidates = order[index...].reversed().map { digest(.sha256, $0, right: $0 != source) }
            #expect(DigestChoice(candidates, computed: [.sha256]).expected?.source == source)
        }
        let user = digest(.md5, .user)
        #expect(DigestChoice([header512, user], computed: [.sha512]).expected == user)
        #expect(DigestChoice([], computed: [.sha256]).expected == nil)
    }

    @Test func disagreementsAreReportedNotChosen() {
        let header = digest(.sha256, .header("Repr-Digest"))
        let staleSums = digest(.sha256, .sidecar("SHA256SUMS"), right: false)
        let choice = DigestChoice([staleSums, header], computed: [.sha256])
        #expect(choice.expected == header)
        #expect(choice.others == [staleSums])
        let conflicts = choice.conflicts(with: Self.file)
        #expect(conflicts.count == 1)
        #expect(conflicts[0].contains("SHA256SUMS") && conflicts[0].contains("ffffffffffffffff…"))
        // Two others of an algorithm not computed that disagree with each other.
        let a = digest(.sha512, .sidecar("SHA512SUMS"))
        let b = digest(.sha512, .sidecar("file.iso.sha512"), right: false)
        let other = DigestChoice([header, a, b], computed: [.sha256])
        #expect(other.conflicts(with: Digests(values: [.sha256: Self.fileSHA256])) == [
            "the published sha-512 digests disagree (file.iso.sha512 ffffffffffffffff…, SHA512SUMS 2222222222222222…)",
        ])
        // The same digest from two places is one statement.
        let twice = DigestChoice([header, digest(.sha256, .sidecar("SHA256SUMS"))], computed: [.sha256])
        #expect(twice.others.isEmpty)
        #expect(twice.conflicts(with: Self.file).isEmpty)
    }

    @Test func theVerdictIsMatchMismatchOrNone() {
        let right = digest(.sha256, .sidecar("SHA256SUMS"))
        let wrong = digest(.sha256, .sidecar("SHA256SUMS"), right: false)
        #expect(IntegrityVerdict.check(right, against: Self.file) == .match(right))
        #expect(IntegrityVerdict.check(wrong, against: Self.file) == .mismatch(expected: wrong, got: Self.fileSHA256))
        #expect(IntegrityVerdict.check(nil, against: Self.file) == .none)
    }
}

/// How the summary reports what was verified.
@Suite struct IntegritySummaryTests {
    func lines(_ integrity: IntegrityReport, conflicts: [String] = []) -> [String] {
        var summary = DownloadSummary(url: "http://x/f", path: "/tmp/f", bytes: 1, seconds: 1, sha256: "ab", mode: "direct", sources: [])
        summary.integrity = integrity
        summary.digestConflicts = conflicts
        return ConsoleObserver.summaryLines(summary)
    }

    @Test func theSummarySaysWhereTheDigestCameFromOrThatThereWasNone() {
        #expect(lines(.verified(algorithm: "sha-256", source: "SHA256SUMS")).suffix(2) == ["  verified sha-256 from SHA256SUMS", "  sha256   ab"])
        #expect(lines(.notPublished).suffix(2) == ["  digest   none published: the file could not be verified", "  sha256   ab"])
        #expect(lines(.notChecked).suffix(2) == ["  digest   not looked for (--checksum none)", "  sha256   ab"])
        #expect(lines(.verified(algorithm: "sha-512", source: "Repr-Digest"), conflicts: ["SHA512SUMS states …"]).suffix(3) == [
            "  verified sha-512 from Repr-Digest", "  WARNING  SHA512SUMS states …", "  sha256   ab",
        ])
    }
}
