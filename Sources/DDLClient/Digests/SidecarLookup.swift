import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// Looks for the checksum files publishers put next to a download: `FILE.sha512`,
/// `FILE.sha256`, `FILE.sha256sum`, `SHA512SUMS` and `SHA256SUMS` in the directory of the
/// URL the user gave (not of a redirect's target: that is often a mirror or a CDN, and a
/// presigned one at that).
///
/// Every file is asked for at once, with `GET` and no credentials of ddl's own (the swarm
/// token goes to the tracker and peers only), the URL's query left out (a presigned query
/// signs one object, so a `403` for the checksum file only means there is none), and within
/// ``timeout`` for the whole answer. Only a `200` counts, with a body of at most 4 KiB (a
/// file for one download) or 1 MiB (a listing) that ``ChecksumFile`` can read and that names
/// this file. An answer reached through a redirect from `https` to `http` is not trusted.
/// Any failure just means no digest from that file.
package struct SidecarLookup: Sendable {
    /// A checksum file to look for.
    package struct Sidecar: Sendable, Hashable {
        /// Where to ask for it.
        package var url: String
        /// Its name, reported as the source of a digest found in it.
        package var name: String
        /// The algorithm of the lines that do not name theirs.
        package var algorithm: ExpectedChecksum.Algorithm
        /// A file for this download alone (`FILE.sha256`), not a listing (`SHA256SUMS`).
        package var single: Bool

        /// The most bytes read from it.
        package var maxBytes: Int { single ? 4 << 10 : 1 << 20 }
    }

    /// How many checksum files are looked for next to a file (all at once).
    package static let sidecarsPerFile = 5

    let httpClient: HTTPClient
    let logger: Logger
    /// Time for each checksum file's whole answer.
    let timeout: TimeAmount

    package init(httpClient: HTTPClient, logger: Logger, timeout: TimeAmount) {
        self.httpClient = httpClient
        self.logger = logger
        self.timeout = timeout
    }

    /// The name of the file at `url` (the last path segment, percent-decoded) and the checksum
    /// files to look for beside it; `nil` when the URL names no file (it ends in `/`, or is
    /// not `http`/`https`).
    package static func sidecars(nextTo url: String) -> (fileName: String, sidecars: [Sidecar])? {
        guard var components = URLComponents(string: url),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              components.host?.isEmpty == false
        else { return nil }
        let path = components.percentEncodedPath
        guard let slash = path.lastIndex(of: "/") else { return nil }
        let encodedName = String(path[path.index(after: slash)...])
        guard let fileName = encodedName.removingPercentEncoding, !fileName.isEmpty, fileName != ".", fileName != "..",
              !fileName.contains("/")
        else { return nil }
        let directory = String(path[...slash])
        components.percentEncodedQuery = nil
        components.fragment = nil
        func sidecar(_ encodedSidecarName: String, _ algorithm: ExpectedChecksum.Algorithm, single: Bool) -> Sidecar? {
            components.percentEncodedPath = directory + encodedSidecarName
            guard let url = components.string, let name = encodedSidecarName.removingPercentEncoding else { return nil }
            return Sidecar(url: url, name: name, algorithm: algorithm, single: single)
        }
        let sidecars = [
            sidecar(encodedName + ".sha512", .sha512, single: true),
            sidecar(encodedName + ".sha256", .sha256, single: true),
            sidecar(encodedName + ".sha256sum", .sha256, single: true),
            sidecar("SHA512SUMS", .sha512, single: false),
            sidecar("SHA256SUMS", .sha256, single: false),
        ].compactMap { $0 }
        assert(sidecars.count <= sidecarsPerFile)
        return (fileName, sidecars)
    }

    /// The digests that the checksum files next to `url` state for its file, most trusted
    /// first; empty when there are none (or `url` names no file).
    package func digests(nextTo url: String) async -> [PublishedDigest] {
        guard let (fileName, sidecars) = Self.sidecars(nextTo: url) else { return [] }
        let found = await withTaskGroup(of: PublishedDigest?.self) { group in
            for sidecar in sidecars {
                group.addTask {
                    guard let text = await fetch(sidecar) else { return nil }
                    let digest = ChecksumFile.digest(for: fileName, in: text, algorithm: sidecar.algorithm, single: sidecar.single, source: sidecar.name)
                    if digest == nil { logger.debug("checksum file does not state this file's digest", metadata: ["name": "\(sidecar.name)"]) }
                    return digest
                }
            }
            var found: [PublishedDigest] = []
            for await digest in group { if let digest { found.append(digest) } }
            return found
        }
        return found.sorted { ($0.source.rank, $0.source.description) < ($1.source.rank, $1.source.description) }
    }

    /// The body of `sidecar` as text, or `nil` when there is no usable one.
    private func fetch(_ sidecar: Sidecar) async -> String? {
        var request = HTTPClientRequest(url: sidecar.url)
        request.headers.add(name: "User-Agent", value: "ddl")
        do {
            let response = try await httpClient.execute(request, timeout: timeout, logger: logger)
            guard response.status == .ok else {
                logger.debug("no checksum file", metadata: ["name": "\(sidecar.name)", "status": "\(response.status.code)"])
                return nil
            }
            guard !Self.downgraded(response.history.map(\.request.url)) else {
                logger.info("checksum file ignored: it was redirected from https to http", metadata: ["name": "\(sidecar.name)"])
                return nil
            }
            let body = try await response.body.collect(upTo: sidecar.maxBytes)
            return String(decoding: body.readableBytesView, as: UTF8.self)
        } catch {
            logger.debug("checksum file not read", metadata: ["name": "\(sidecar.name)", "error": "\(error)"])
            return nil
        }
    }

    /// Whether a chain of requests (the first, then each redirect's) went from `https` to `http`.
    package static func downgraded(_ urls: [String]) -> Bool {
        var secure = false
        for url in urls {
            let lowered = url.lowercased()
            if lowered.hasPrefix("https://") {
                secure = true
            } else if secure {
                return true
            }
        }
        return false
    }
}
