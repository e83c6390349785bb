import AsyncHTTPClient
import DDLClient
import DDLCore
import DDLTLS
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

extension Roles {
    /// Runs `ddl preheat`; returns the exit code (0, or 3 when a piece could not be fetched).
    public static func runPreheat(configuration: ClientConfiguration, json: Bool, logger: Logger) async -> Int32 {
        let httpClient = Downloader.makeHTTPClient(configuration: configuration)
        let result: Result<Preheater.Summary, DownloadError>
        do throws(DownloadError) {
            result = .success(try await Preheater(configuration: configuration, httpClient: httpClient, logger: logger).run())
        } catch {
            result = .failure(error)
        }
        try? await httpClient.shutdown()
        switch result {
        case let .success(summary):
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                if let data = try? encoder.encode(summary) { FileHandle.standardOutput.write(data + Data("\n".utf8)) }
            } else {
                announce("ddl: preheated \(summary.url) in \(summary.peers) peer cache\(summary.peers == 1 ? "" : "s"): "
                    + "\(ByteSize.format(summary.bytes)) in \(String(format: "%.2f", summary.seconds)) s "
                    + "(\(ByteSize.format(summary.cachedBefore)) were there already)")
                for failure in summary.failures { FileHandle.standardError.write(Data("ddl: not preheated: \(failure)\n".utf8)) }
            }
            return summary.failures.isEmpty ? 0 : 3
        case let .failure(error):
            FileHandle.standardError.write(Data("ddl preheat: \(error)\n".utf8))
            return error.exitCode
        }
    }

    /// Prints a peer's cache (`GET /v1/cache`).
    public static func listCache(peer: String, json: Bool, token: String?, fingerprint: CertificateFingerprint? = nil) async throws {
        let (status, body) = try await cacheRequest(peer: peer, path: "/v1/cache", method: .GET, token: token, fingerprint: fingerprint)
        guard status == 200 else { throw CacheCommandError(text: "the peer answered HTTP \(status): \(String(buffer: body))") }
        if json {
            FileHandle.standardOutput.write(Data(String(buffer: body).utf8) + Data("\n".utf8))
            return
        }
        let listing = try JSONDecoder().decode(PeerCacheAPI.Listing.self, from: body)
        var lines = [pad("ID", 66) + pad("STORED", 12) + pad("SIZE", 12) + pad("LAST USE", 22) + "URL"]
        for file in listing.files {
            let lastUse = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(file.lastUse)))
            lines.append(pad(file.id, 66) + pad(ByteSize.format(file.storedBytes), 12) + pad(file.length.map(ByteSize.format) ?? "?", 12)
                + pad(lastUse, 22) + TerminalText.escaped(file.url))
        }
        lines.append("\(listing.files.count) file\(listing.files.count == 1 ? "" : "s"), \(ByteSize.format(listing.storedBytes)) of \(ByteSize.format(listing.capacity))")
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    /// Removes `id` (all when `nil`) from a peer's cache.
    public static func removeCached(peer: String, id: String?, token: String?, fingerprint: CertificateFingerprint? = nil) async throws {
        let path = "/v1/cache" + (id.map { "/" + $0.addingPathPercentEncoding() } ?? "")
        let (status, body) = try await cacheRequest(peer: peer, path: path, method: .DELETE, token: token, fingerprint: fingerprint)
        guard status == 200 else { throw CacheCommandError(text: "the peer answered HTTP \(status): \(String(buffer: body))") }
        announce("ddl: " + String(buffer: body))
    }

    /// A request to a peer's cache routes: over TLS pinned to `fingerprint`, or plain HTTP
    /// without one.
    static func cacheRequest(peer: String, path: String, method: HTTPMethod, token: String?, fingerprint: CertificateFingerprint?) async throws -> (Int, ByteBuffer) {
        var authority = Substring(peer)
        if let scheme = authority.range(of: "://") { authority = authority[scheme.upperBound...] }
        while authority.hasSuffix("/") { authority = authority.dropLast() }
        let base = (fingerprint == nil ? "http://" : "https://") + authority
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow  // the token goes to the peer only
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            if let fingerprint {
                request.tlsConfiguration = try await PinnedCertificates().clientConfiguration(forURL: base, defaultPort: 6000, fingerprints: [fingerprint])
            }
            if let token { request.headers.add(name: "Authorization", value: SwarmToken.authorizationValue(token)) }
            let response = try await httpClient.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 16 << 20)
            try await httpClient.shutdown()
            return (Int(response.status.code), body)
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
    }
}

struct CacheCommandError: Error, CustomStringConvertible {
    var text: String
    var description: String { text }
}
