import Crypto

/// The digests computed over a file in one pass: always SHA-256, plus the algorithm of an
/// expected `--checksum` when there is one.
struct DigestSet {
    let extra: ExpectedChecksum.Algorithm?
    private var sha256 = SHA256()
    private var sha512: SHA512?
    private var md5: Insecure.MD5?

    init(extra: ExpectedChecksum.Algorithm?) {
        self.extra = extra
        if extra == .sha512 { sha512 = SHA512() }
        if extra == .md5 { md5 = Insecure.MD5() }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        sha256.update(bufferPointer: bytes)
        sha512?.update(bufferPointer: bytes)
        md5?.update(bufferPointer: bytes)
    }

    /// Lowercase hex of SHA-256 and of the extra algorithm.
    func finalize() -> (sha256: String, extra: String?) {
        let main = sha256.finalize().hexString
        switch extra {
        case .sha256: return (main, main)
        case .sha512: return (main, sha512!.finalize().hexString)
        case .md5: return (main, md5!.finalize().hexString)
        case nil: return (main, nil)
        }
    }
}
