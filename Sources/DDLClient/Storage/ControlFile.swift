import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads and atomically rewrites the control file `<file>.ddl`: each save writes a temporary
/// file and renames it over the old one, so a crash leaves either the old or the new state.
actor ControlFile {
    nonisolated let path: String
    private var state: ResumeState
    private var completed: Set<Int>
    private let pieceCount: Int

    init(path: String, state: ResumeState, pieceCount: Int) {
        self.path = path
        self.state = state
        self.pieceCount = pieceCount
        self.completed = state.completedPieces(count: pieceCount)
    }

    /// Loads a control file, or `nil` when there is none or it cannot be parsed.
    static func load(path: String) -> ResumeState? {
        guard FileSystemChecks.isRegularFile(path), let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ResumeState.self, from: data)
    }

    /// Records a completed piece and saves.
    func markCompleted(_ piece: Int) throws(DownloadError) {
        completed.insert(piece)
        try save()
    }

    /// Records pieces as missing again (delivered by a banned peer) and saves.
    func markIncomplete(_ pieces: [Int]) throws(DownloadError) {
        completed.subtract(pieces)
        try save()
    }

    /// Writes the current state atomically.
    func save() throws(DownloadError) {
        state.completed = ResumeState.encode(completed, count: pieceCount)
        let temporary = path + ".tmp"
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = try encoder.encode(state)
            // Never follow a link planted at the temporary path.
            unlink(temporary)
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw DownloadError.localIO("cannot write \(temporary): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            try data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    guard n > 0 else { throw DownloadError.localIO("cannot write \(temporary): \(String(cString: strerror(errno)))") }
                    offset += n
                }
            }
            guard rename(temporary, path) == 0 else {
                throw DownloadError.localIO("cannot replace \(path): \(String(cString: strerror(errno)))")
            }
        } catch let error as DownloadError {
            throw error
        } catch {
            throw .localIO("cannot write \(path): \(error)")
        }
    }

    /// Removes the control file (after a successful download).
    nonisolated func remove() {
        unlink(path)
        unlink(path + ".tmp")
    }
}
