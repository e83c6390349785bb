import Crypto

/// The digests computed over a file in one pass: SHA-256 unless turned off
/// (``ClientConfiguration/computeSHA256``), plus the algorithm of an expected digest when
/// one is known (`--checksum`, or a digest the origin's headers published).
struct DigestSet: Sendable {
    private var sha256: SHA256?
    private var sha512: SHA512?
    private var md5: Insecure.MD5?

    /// - Parameters:
    ///   - sha256: Whether to compute the SHA-256 (it is computed anyway when `extra` is SHA-256).
    ///   - extra: The algorithm of an expected digest.
    init(sha256: Bool = true, extra: ExpectedChecksum.Algorithm?) {
        if sha256 || extra == .sha256 { self.sha256 = SHA256() }
        if extra == .sha512 { sha512 = SHA512() }
        if extra == .md5 { md5 = Insecure.MD5() }
    }

    /// True when there is nothing to compute: the file need not be read back.
    var isEmpty: Bool { sha256 == nil && sha512 == nil && md5 == nil }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        sha256?.update(bufferPointer: bytes)
        sha512?.update(bufferPointer: bytes)
        md5?.update(bufferPointer: bytes)
    }

    /// Lowercase hex of every digest computed.
    func finalize() -> Digests {
        var values: [ExpectedChecksum.Algorithm: String] = [:]
        values[.sha256] = sha256?.finalize().hexString
        values[.sha512] = sha512?.finalize().hexString
        values[.md5] = md5?.finalize().hexString
        return Digests(values: values)
    }
}

/// A file's digests as lowercase hex, by algorithm: the SHA-256 (unless turned off) and the
/// algorithm of an expected digest.
package struct Digests: Sendable, Equatable {
    package var values: [ExpectedChecksum.Algorithm: String]

    package init(values: [ExpectedChecksum.Algorithm: String] = [:]) {
        self.values = values
    }

    /// The SHA-256, when computed.
    package var sha256: String? { values[.sha256] }

    package subscript(algorithm: ExpectedChecksum.Algorithm) -> String? { values[algorithm] }

    /// These digests and `other`'s (computed over the same bytes).
    func merging(_ other: Digests) -> Digests {
        Digests(values: values.merging(other.values) { mine, _ in mine })
    }
}
