#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DDLCore

/// The `token_file` setting (`--token-file PATH`, `DDL_TOKEN_FILE`): the swarm token read
/// from a file, so that it is not on the command line, where every local user sees it in the
/// process list.
///
/// Like ssh with a private key, the file is refused when other users may read or write it
/// (any group or other permission bit): the secret would only have moved from the process
/// list to the disk. No error message ever holds the file's content.
package enum TokenFile {
    /// Most bytes read: a token is at most 1024 bytes, plus whitespace.
    static let maxBytes = 4096

    /// Reads the token at `path`, without leading and trailing whitespace and newlines.
    package static func token(at path: String) throws(ConfigLoader.Failure) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = errno == ENOENT ? "no such file" : String(cString: strerror(errno))
            throw failure("cannot read the token file \(path) (\(reason)); give the path of a file that holds the swarm's token")
        }
        defer { close(fd) }
        // The checks are on the file that was opened, not on a name that could change since.
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw failure("cannot read the token file \(path) (\(String(cString: strerror(errno))))")
        }
        guard (info.st_mode & mode_t(S_IFMT)) == mode_t(S_IFREG) else {
            throw failure("the token file \(path) is not a regular file")
        }
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 {
            throw failure(
                "the token file \(path) is open to other users (mode \(octal(mode))): anyone on this machine could read or replace "
                    + "the swarm's token; run `chmod 600 \(path)` (ddl refuses it, as ssh refuses an open private key)")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while bytes.count <= maxBytes {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("cannot read the token file \(path) (\(String(cString: strerror(errno))))")
            }
            if count == 0 { break }
            bytes += buffer[..<count]
        }
        guard bytes.count <= maxBytes else {
            throw failure("the token file \(path) is larger than \(maxBytes) bytes: it should hold the swarm's token only")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw failure("the token file \(path) is not text: it should hold the swarm's token only")
        }
        let token = text.trimmingWhitespaceAndNewlines()
        guard !token.isEmpty else { throw failure("the token file \(path) is empty: write the swarm's token into it") }
        // The problem never quotes the token.
        if let problem = SwarmToken.problem(with: token) {
            throw failure("the token in \(path) is not valid: \(problem)")
        }
        return token
    }

    private static func failure(_ text: String) -> ConfigLoader.Failure {
        ConfigLoader.Failure(description: text)
    }

    private static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

extension String {
    fileprivate func trimmingWhitespaceAndNewlines() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}
