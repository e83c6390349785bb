import AsyncHTTPClient
import DDLCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Hands this machine's download to the `ddl server` of this machine through its seed socket
/// (see ``SeedAPI`` and docs/cache.md, "Seeding"): while it runs, the peer's own fetches of
/// the file fill the `.part` file in place instead of a copy in its cache; once complete and
/// verified, the peer serves the whole file from it. The file is stored once, and the swarm
/// can fetch any of it here.
///
/// Everything is best effort: a socket that is missing, of another peer, or refusing leaves
/// the download as it is (the local peer then keeps a copy of its share, as without seeding).
package struct LocalSeeder: Sendable {
    let httpClient: HTTPClient
    let socketPath: String
    let token: String?
    let logger: Logger

    /// How long the socket may take to answer (it is local: a stuck one must not hold the
    /// download's start long).
    static let offerTimeout: TimeAmount = .seconds(2)
    /// How long the peer may take to read a complete file when the client waits for it
    /// (tests; about 0.75 ms per MiB, 8 s for 10 GiB).
    static let sealTimeout: TimeAmount = .seconds(120)

    /// The seeder when the socket at `socketPath` answers for the peer listening on `port`
    /// (the peer of this machine that the download uses), else `nil`.
    static func connect(socketPath: String, port: Int, httpClient: HTTPClient, token: String?, logger: Logger) async -> LocalSeeder? {
        let seeder = LocalSeeder(httpClient: httpClient, socketPath: socketPath, token: token, logger: logger)
        guard FileManager.default.fileExists(atPath: socketPath) else {
            logger.debug("no seed socket", metadata: ["path": "\(socketPath)"])
            return nil
        }
        // The URL (a signed one is a credential) and the token go only to a peer of this
        // user: a private directory of ours, and a server process of ours (SO_PEERCRED).
        let checked: String?? = try? await NIOThreadPool.singleton.runIfActive { Self.isThisUsersServer(socketPath) }
        if let refusal = checked ?? "the check could not run" {
            logger.info("seed socket not used", metadata: ["path": "\(socketPath)", "reason": "\(refusal)"])
            return nil
        }
        guard let info: SeedAPI.Info = await seeder.call(.GET, body: nil, timeout: offerTimeout) else { return nil }
        guard info.port == port else {
            logger.info("the seed socket belongs to another peer of this machine", metadata: ["path": "\(socketPath)", "its port": "\(info.port)", "port": "\(port)"])
            return nil
        }
        return seeder
    }

    /// Offers the file at `path` (made absolute) of `file`'s download; the peer's answer, or
    /// `nil` when it could not be asked.
    func offer(_ file: RemoteFile, length: Int64, path: String, complete: Bool, verified: Bool = false, wait: Bool = false) async -> SeedAPI.Answer? {
        guard let validator = file.ifRangeValidator else { return nil }
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let offer = SeedAPI.Offer(
            url: file.url, validator: validator, length: length, etag: file.etag, lastModified: file.lastModified, path: absolute, complete: complete,
            verified: verified ? true : nil, wait: wait ? true : nil)
        let answer: SeedAPI.Answer? = await call(.POST, body: try? JSONEncoder().encode(offer), timeout: wait ? Self.sealTimeout : Self.offerTimeout)
        if let answer {
            logger.info(answer.shared ? "the local peer seeds the download from its file" : "the local peer does not seed the download", metadata: [
                "complete": "\(complete)", "storedBytes": "\(answer.storedBytes)", "reason": "\(answer.reason ?? "")",
            ])
        }
        return answer
    }

    /// Why the socket at `path` is not a server of this user's, or `nil` when it is: its
    /// directory is ours and private (mode 0700), and the process listening on it runs as
    /// us. Blocking.
    package static func isThisUsersServer(_ path: String) -> String? {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        var info = stat()
        guard !directory.isEmpty, lstat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return "\(directory) is not a directory" }
        guard info.st_uid == geteuid() else { return "\(directory) belongs to another user" }
        guard info.st_mode & 0o077 == 0 else { return "\(directory) is open to other users" }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return "cannot make a socket" }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return "the path is too long" }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return "cannot connect: \(String(cString: strerror(errno)))" }
        // Linux's `struct ucred`: pid, uid, gid.
        var credentials: (Int32, UInt32, UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout.size(ofValue: credentials))
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return "the kernel does not say who listens" }
        guard credentials.1 == geteuid() else { return "it is served by another user's process" }
        return nil
    }

    private func call<Answer: Decodable>(_ method: HTTPMethod, body: Data?, timeout: TimeAmount) async -> Answer? {
        guard let url = URL(httpURLWithSocketPath: socketPath, uri: "/v1/seed") else { return nil }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        do {
            let response = try await httpClient.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: 64 << 10)
            guard response.status == .ok else {
                logger.info("the seed socket refused", metadata: ["status": "\(response.status.code)"])
                return nil
            }
            return try JSONDecoder().decode(Answer.self, from: Data(buffer: bytes))
        } catch {
            logger.info("the seed socket could not be asked", metadata: ["path": "\(socketPath)", "error": "\(error)"])
            return nil
        }
    }
}
