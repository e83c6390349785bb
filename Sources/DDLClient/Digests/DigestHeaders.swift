import Crypto
import Foundation
import NIOHTTP1
import RawStructuredFieldValues

/// Reads the digests of the whole file that an origin's answer states in its headers.
///
/// - `Repr-Digest` (RFC 9530): the digest of the selected representation. It holds on a
///   `206` as well (it describes the whole representation, not the part sent), but not when
///   `Content-Encoding` is other than `identity`: it is then the digest of the encoded bytes,
///   which another request may not get.
/// - `Content-Digest` (RFC 9530): the digest of the message content, so only on a `200`
///   answer to a `GET` without a content coding. On a `206` it is the digest of the part, and
///   on a `HEAD` the digest of no content at all (RFC 9530, appendix B.2: the empty
///   content's SHA-256, `47DEQpj8…`), not of the file.
/// - `x-amz-checksum-sha256` (S3 and compatible stores): the stored object's checksum, trusted
///   like `Repr-Digest`, unless it is a multipart composite (`x-amz-checksum-type: COMPOSITE`,
///   or a value ending in `-N`): a checksum of the parts' checksums, not of the file.
/// - `Digest` (RFC 3230, obsoleted by RFC 9530, still sent by MirrorBrain and other
///   Metalink/HTTP servers): meant as the whole file's digest on a `206` as well, but
///   implementations have computed it over the content sent (RFC 9530, section 1.3), the
///   part, so it is read only on a `200` without a content coding.
///
/// A digest of empty content stated for a file that is not empty is dropped: a server
/// digested the empty body of its answer to `HEAD`, which is no statement about the file.
///
/// Algorithms: `sha-512`, `sha-256` and `md5`; anything else (`sha`, `unixsum`, CRCs…) is
/// skipped. A field that does not parse is ignored as a whole, as RFC 8941 asks; a value of
/// the wrong length for its algorithm is skipped.
package enum DigestHeaders {
    /// The digests of the whole file stated by `headers` of an answer with `status` to a
    /// `HEAD` (`head`) or a `GET`, for a file of `length` bytes (when known).
    package static func digests(in headers: HTTPHeaders, status: Int, head: Bool, length: Int64? = nil) -> [PublishedDigest] {
        guard status == 200 || status == 206, isIdentity(headers) else { return [] }
        let whole = status == 200
        var found: [PublishedDigest] = []
        if let value = joined(headers, "Repr-Digest") {
            found += structuredField(value, source: "Repr-Digest")
        }
        if whole, !head, let value = joined(headers, "Content-Digest") {
            found += structuredField(value, source: "Content-Digest")
        }
        if let value = joined(headers, "x-amz-checksum-sha256") {
            let type = headers.first(name: "x-amz-checksum-type")?.trimmingCharacters(in: .whitespaces).lowercased()
            if type != "composite", let digest = amazonChecksum(value) { found.append(digest) }
        }
        if whole, let value = joined(headers, "Digest") {
            found += instanceDigests(value)
        }
        return length == 0 ? found : found.filter { $0.hex != emptyContent[$0.algorithm] }
    }

    /// The digests of no bytes at all, by algorithm.
    static let emptyContent: [ExpectedChecksum.Algorithm: String] = [
        .sha256: SHA256.hash(data: [UInt8]()).hexString,
        .sha512: SHA512.hash(data: [UInt8]()).hexString,
        .md5: Insecure.MD5.hash(data: [UInt8]()).hexString,
    ]

    /// Whether the answer has no content coding (`Content-Encoding` absent or `identity`).
    package static func isIdentity(_ headers: HTTPHeaders) -> Bool {
        headers["Content-Encoding"]
            .flatMap { $0.split(separator: ",") }
            .allSatisfy { ["", "identity"].contains($0.trimmingCharacters(in: .whitespaces).lowercased()) }
    }

    /// An RFC 9530 field: a structured-field dictionary such as
    /// `sha-256=:BASE64:, sha-512=:BASE64:`. Parameters are ignored.
    static func structuredField(_ value: String, source: String) -> [PublishedDigest] {
        var parser = StructuredFieldValueParser(Array(value.utf8))
        guard let dictionary = try? parser.parseDictionaryFieldValue() else { return [] }
        var found: [PublishedDigest] = []
        for (key, member) in dictionary {
            guard let algorithm = algorithm(named: key),
                  case let .item(item) = member,
                  case let .undecodedByteSequence(base64) = item.rfc9651BareItem,
                  let bytes = Data(base64Encoded: base64),
                  let digest = PublishedDigest(algorithm: algorithm, bytes: bytes, source: .header(source))
            else { continue }
            found.append(digest)
        }
        return found
    }

    /// An RFC 3230 `Digest` field: `SHA-256=BASE64, MD5=BASE64` (algorithm names in any case).
    static func instanceDigests(_ value: String) -> [PublishedDigest] {
        var found: [PublishedDigest] = []
        for member in value.split(separator: ",") {
            guard let equals = member.firstIndex(of: "=") else { continue }
            let name = member[..<equals].trimmingCharacters(in: .whitespaces)
            let base64 = member[member.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard let algorithm = algorithm(named: name), let bytes = Data(base64Encoded: base64),
                  let digest = PublishedDigest(algorithm: algorithm, bytes: bytes, source: .header("Digest"))
            else { continue }
            found.append(digest)
        }
        return found
    }

    /// S3's `x-amz-checksum-sha256`: the base64 SHA-256 of the object, or `nil` for a
    /// multipart composite (`BASE64-N`) or a malformed value.
    static func amazonChecksum(_ value: String) -> PublishedDigest? {
        let text = value.trimmingCharacters(in: .whitespaces)
        guard !text.contains("-"), let bytes = Data(base64Encoded: text) else { return nil }
        return PublishedDigest(algorithm: .sha256, bytes: bytes, source: .header("x-amz-checksum-sha256"))
    }

    /// The algorithm an HTTP digest field names (IANA Hash Algorithms for HTTP Digest Fields),
    /// case-insensitively.
    static func algorithm(named name: String) -> ExpectedChecksum.Algorithm? {
        switch name.lowercased() {
        case "sha-512": .sha512
        case "sha-256": .sha256
        case "md5": .md5
        default: nil
        }
    }

    /// Every line of the field `name`, joined as one list (RFC 9110 §5.3); `nil` when absent.
    private static func joined(_ headers: HTTPHeaders, _ name: String) -> String? {
        let values = headers[name]
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }
}
