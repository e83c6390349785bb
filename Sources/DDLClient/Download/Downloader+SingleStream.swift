import AsyncHTTPClient
import DDLCore

extension Downloader {
    /// Origin without ranges or length: one stream from this machine, written in order.
    /// There is nothing to resume from, so a failed download removes its `.part`.
    func singleStreamDownload(file: RemoteFile, path: String, digests: DigestLookup, started: ContinuousClock.Instant) async throws -> DownloadSummary {
        observer.handle(.notice("the origin does not support byte ranges or sent no length: downloading in one stream"))
        let partFile = try PartFile(creating: path + ".part", length: file.length)
        defer { partFile.close() }
        observer.handle(.started(DownloadStart(url: URLIdentity.printable(file.url), path: path, length: file.length, pieceSize: nil, pieces: 1, sources: ["self"], mode: "single")))
        let counters = TransferCounters()
        do {
            try await transferSingleStream(file: file, partFile: partFile, counters: counters, started: started)
        } catch {
            partFile.remove()
            throw error
        }
        return try await finish(Finishing(
            file: file, path: path, partFile: partFile, control: nil, mode: "single", started: started,
            bytes: file.length ?? counters.goodBytes, traffic: counters.bySource, pieces: ["self": 1], banned: [], lookup: digests, digests: nil))
    }

    private func transferSingleStream(file: RemoteFile, partFile: PartFile, counters: TransferCounters, started: ContinuousClock.Instant) async throws {
        try await withProgressTicker(
            length: file.length, pieces: 1, started: started, counters: counters, bytes: { counters.goodBytes }, piecesDone: { 0 }
        ) {
            var request = HTTPClientRequest(url: file.url)
            request.headers.add(name: "User-Agent", value: "ddl")
            let response: HTTPClientResponse
            do {
                response = try await httpClient.execute(request, timeout: .seconds(Int64(configuration.connectTimeoutSeconds + configuration.readTimeoutSeconds)), logger: logger)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw DownloadError.network("cannot reach the origin: \(error)")
            }
            guard response.status == .ok else {
                throw DownloadError.origin("the origin answered HTTP \(response.status.code) for \(URLIdentity.printable(file.url))", status: Int(response.status.code))
            }
            var offset: Int64 = 0
            do {
                for try await chunk in response.body {
                    if let length = file.length, offset + Int64(chunk.readableBytes) > length {
                        throw DownloadError.integrity("the origin sent more than the announced \(length) bytes")
                    }
                    try partFile.write(chunk, at: offset)
                    offset += Int64(chunk.readableBytes)
                    counters.received(chunk.readableBytes, from: "self")
                    counters.wrote(chunk.readableBytes)
                }
            } catch let error as DownloadError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw DownloadError.network("the download broke off after \(offset) bytes: \(error) (run again to retry)")
            }
            if let length = file.length, offset != length {
                throw DownloadError.integrity("the origin sent \(offset) of the announced \(length) bytes")
            }
        }
    }
}
