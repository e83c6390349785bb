/// Why a download failed. Each case says what the user can do and maps to an exit code.
public enum DownloadError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Bad arguments or configuration.
    case usage(String)
    /// The origin could not be reached.
    case network(String)
    /// The origin answered with an error or something unusable.
    case origin(String, status: Int?)
    /// The result could not be trusted (changed on the server, wrong length, wrong checksum).
    case integrity(String)
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
        case .integrity: 5
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
        case let .localIO(message): message
        case .interrupted: "interrupted; the partial download was kept"
        }
    }
}
