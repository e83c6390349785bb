import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads and atomically rewrites the control file `<file>.ddl`: each save writes a temporary
/// file, syncs it, renames it over the old one and syncs the directory, so a crash or a power
/// loss leaves either the old or the new state, never a torn one.
///
/// The caller decides what it records: only pieces whose bytes are on disk (see
/// `Downloader+Persistence.swift`).
actor ControlFile {
    nonisolated let path: String
    private var state: ResumeState
    private let pieceCount: Int

    init(path: String, state: ResumeState, pieceCount: Int) {
        self.path = path
        self.state = state
        self.pieceCount = pieceCount
    }

    /// Loads a control file, or `nil` when there is none or it cannot be parsed.
    static func load(path: String) -> ResumeState? {
        guard FileSystemChecks.isRegularFile(path), let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ResumeState.self, from: data)
    }

    /// Records exactly `completed` as the complete pieces and saves durably. Does nothing
    /// when that is what the file already says.
    func save(completed: Set<Int>) throws(DownloadError) {
        let encoded = ResumeState.encode(completed, count: pieceCount)
        guard encoded != state.completed else { return }
        state.completed = encoded
        try save()
    }

    /// Records every piece but `excluded` as complete and saves durably: for a transfer that
    /// ended with the whole part file synced, but that is not renamed (its digest did not
    /// match), so that a later run resumes with only `excluded` to fetch.
    func saveAllComplete(except excluded: Set<Int> = []) throws(DownloadError) {
        try save(completed: Set(0..<pieceCount).subtracting(excluded))
    }

    /// Writes the current state durably.
    func save() throws(DownloadError) {
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
            guard fsync(fd) == 0 else { throw DownloadError.localIO("cannot sync \(temporary): \(String(cString: strerror(errno)))") }
            guard rename(temporary, path) == 0 else {
                throw DownloadError.localIO("cannot replace \(path): \(String(cString: strerror(errno)))")
            }
            try Self.syncDirectory(of: path)
        } catch let error as DownloadError {
            throw error
        } catch {
            throw .localIO("cannot write \(path): \(error)")
        }
    }

    /// Syncs the directory holding `path`, so that a rename in it survives a power loss.
    static func syncDirectory(of path: String) throws(DownloadError) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .localIO("cannot open \(directory) to sync it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .localIO("cannot sync \(directory): \(String(cString: strerror(errno)))") }
    }

    /// Removes the control file (after a successful download).
    nonisolated func remove() {
        unlink(path)
        unlink(path + ".tmp")
    }
}
