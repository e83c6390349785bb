import DDLCore

/// The digests one download is checked against at its end: the user's `--checksum`, or
/// (with `--checksum auto`) those the probe's headers stated, known at once, and those found
/// in checksum files next to the file, looked up while the transfer runs.
final class DigestLookup: Sendable {
    /// How the download looks for a digest.
    enum Mode: Sendable, Equatable {
        /// `--checksum ALG=HEX`: that digest and no other.
        case explicit(ExpectedChecksum)
        /// `--checksum auto`: headers and checksum files.
        case auto
        /// `--checksum none`: nothing.
        case off
    }

    let mode: Mode
    /// Digests known before the transfer: the user's, or the ones the headers stated.
    let known: [PublishedDigest]
    private let sidecars = Eventually<[PublishedDigest]>()

    /// - Parameter headers: the digests the probe's headers stated (used in `auto` mode).
    init(mode: Mode, headers: [PublishedDigest]) {
        self.mode = mode
        switch mode {
        case let .explicit(checksum): known = [PublishedDigest(algorithm: checksum.algorithm, hex: checksum.hex, source: .user)]
        case .auto: known = headers
        case .off: known = []
        }
    }

    /// Whether checksum files are to be looked for.
    var looksForSidecars: Bool { mode == .auto }

    /// The algorithm to compute during the transfer besides the SHA-256: the expected one's,
    /// when it is known before the transfer (the strongest the headers stated).
    var algorithmDuringTransfer: ExpectedChecksum.Algorithm? {
        known.map(\.algorithm).max { $0.strength < $1.strength }
    }

    /// Records what the checksum files said (once; later calls are ignored).
    func found(_ digests: [PublishedDigest]) async {
        await sidecars.set(digests)
    }

    /// Every digest found, once the lookup of checksum files is over (at once when there is
    /// none to do).
    func all() async throws -> [PublishedDigest] {
        guard looksForSidecars else { return known }
        return known + (try await sidecars.wait())
    }
}
