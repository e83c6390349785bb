import Crypto

/// The digests computed over a file in one pass: SHA-256 unless turned off
/// (``ClientConfiguration/computeSHA256``), plus the algorithm of an expected `--checksum`
/// when there is one.
struct DigestSet: Sendable {
    let extra: ExpectedChecksum.Algorithm?
    private var sha256: SHA256?
    private var sha512: SHA512?
    private var md5: Insecure.MD5?

    /// - Parameters:
    ///   - sha256: Whether to compute the SHA-256 (it is computed anyway when `extra` is SHA-256).
    ///   - extra: The algorithm of an expected checksum.
    init(sha256: Bool = true, extra: ExpectedChecksum.Algorithm?) {
        self.extra = extra
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

    /// Lowercase hex of SHA-256 (`nil` when not computed) and of the extra algorithm.
    func finalize() -> Digests {
        let main = sha256?.finalize().hexString
        switch extra {
        case .sha256: return Digests(sha256: main, extra: main)
        case .sha512: return Digests(sha256: main, extra: sha512!.finalize().hexString)
        case .md5: return Digests(sha256: main, extra: md5!.finalize().hexString)
        case nil: return Digests(sha256: main, extra: nil)
        }
    }
}

/// A file's digests as lowercase hex: the SHA-256 (`nil` when turned off) and the expected
/// checksum's algorithm (`nil` without `--checksum`).
struct Digests: Sendable {
    var sha256: String?
    var extra: String?
}
