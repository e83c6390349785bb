/// Why a download failed. Each case says what the user can do and maps to an exit code.
public enum DownloadError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Bad arguments or configuration.
    case usage(String)
    /// The origin could not be reached.
    case network(String)
    /// The origin answered with an error or something unusable.
    case origin(String, status: Int?)
    /// The result could not be trusted (wrong length, wrong checksum).
    case integrity(String)
    /// The file changed on the server during the download or since the partial download.
    case changed(String)
    /// Writing the file failed.
    case localIO(String)
    /// Stopped by the user (SIGINT/SIGTERM).
    case interrupted

    /// The process exit code documented in the README.
    public var exitCode: Int32 {
        switch self {
        case .usage: 64  // EX_USAGE, as for command-line errors
        case .network: 3
        case .origin: 4
        case .integrity, .changed: 5
        case .localIO: 6
        case .interrupted: 130
        }
    }

    public var description: String {
        switch self {
        case let .usage(message): message
        case let .network(message): message
        case let .origin(message, _): message
        case let .integrity(message): message
        case let .changed(message): message
        case let .localIO(message): message
        case .interrupted: "interrupted; run the same command again to resume"
        }
    }
}
