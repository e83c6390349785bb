import AsyncHTTPClient
import DDLCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Hands this machine's download to the `ddl server` of this machine through its seed socket
/// (see ``SeedAPI`` and docs/cache.md, "Seeding"): while it runs, the peer's own fetches of
/// the file fill the `.part` file in place instead of a copy in its cache; once complete and
/// verified, the peer serves the whole file from it. The file is stored once, and the swarm
/// can fetch any of it here.
///
/// Everything is best effort: a socket that is missing, of another peer, or refusing leaves
/// the download as it is (the local peer then keeps a copy of its share, as without seeding).
struct LocalSeeder: Sendable {
    let httpClient: HTTPClient
    let socketPath: String
    let token: String?
    let logger: Logger

    /// How long the socket may take to answer an offer of a running download.
    static let offerTimeout: TimeAmount = .seconds(10)
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
