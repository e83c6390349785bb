import DDLCore
import NIOPosix
import Synchronization

/// Hashes the part file from the front while the download runs: whenever the next pieces
/// in file order are done, it reads them back (from the page cache) and feeds the digests,
/// so that at the end only the last pieces remain to be read instead of the whole file.
/// Each hashed piece is also handed to the kernel for writeback, so the final `fsync` is short.
/// With no digest to compute (`--no-sha256` and no `--checksum`) it reads nothing and only
/// hands the pieces to writeback.
final class InOrderHasher: Sendable {
    private struct State {
        var digests: DigestSet
        var nextPiece = 0
    }

    private let state: Mutex<State>
    /// One read buffer for the hasher's whole life, used only while `state` is locked (a
    /// buffer allocated per pass lands in whichever thread's malloc arena runs it, and the
    /// arenas keep them: peak RSS crept up with the download's length).
    private let readBuffer = ReadBuffer(byteCount: 1 << 20)
    /// The digests before any byte, to start over from.
    private let fresh: DigestSet
    private let plan: PiecePlan
    private let partFile: PartFile

    init(plan: PiecePlan, partFile: PartFile, sha256: Bool, extra: ExpectedChecksum.Algorithm?) {
        self.plan = plan
        self.partFile = partFile
        self.fresh = DigestSet(sha256: sha256, extra: extra)
        self.state = Mutex(State(digests: fresh))
    }

    /// Starts over (pieces already hashed were re-queued: a banned peer wrote into them).
    func reset() {
        state.withLock { $0 = State(digests: fresh) }
    }

    /// Hashes every complete piece at the front (`isDone`: no write touches the piece any
    /// more), on the blocking thread pool.
    func advance(isDone: @escaping @Sendable (Int) -> Bool) async throws(DownloadError) {
        do {
            try await NIOThreadPool.singleton.runIfActive { try self.advanceBlocking(isDone: isDone) }
        } catch let error as DownloadError {
            throw error
        } catch {
            throw .localIO("cannot read back \(partFile.path): \(error)")
        }
    }

    /// The digests of the whole file; every piece must be done.
    func finish(isDone: @escaping @Sendable (Int) -> Bool) async throws(DownloadError) -> Digests {
        try await advance(isDone: isDone)
        return state.withLock { state in
            precondition(state.nextPiece == plan.count, "hashing finished before every piece was done")
            return state.digests.finalize()
        }
    }

    private func advanceBlocking(isDone: (Int) -> Bool) throws {
        let buffer = readBuffer.buffer
        while true {
            // The lock is held while a piece is read, so a reset waits for it and then wins.
            let hashed = try state.withLock { state -> ByteRange? in
                guard state.nextPiece < plan.count, isDone(state.nextPiece) else { return nil }
                let range = plan.range(of: state.nextPiece)
                if !state.digests.isEmpty {
                    try partFile.read(range, into: buffer) { state.digests.update($0) }
                }
                state.nextPiece += 1
                return range
            }
            guard let hashed else { return }
            partFile.startWriteback(hashed)
        }
    }
}

/// A heap buffer freed with its owner.
final class ReadBuffer: @unchecked Sendable {
    // Sendable by hand: the owner only touches the bytes under its own lock.
    let buffer: UnsafeMutableRawBufferPointer

    init(byteCount: Int) {
        buffer = .allocate(byteCount: byteCount, alignment: 16)
    }

    deinit { buffer.deallocate() }
}
