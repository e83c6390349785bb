import DDLCore
import NIOCore
import NIOPosix
import NIOSSL

/// Learns a swarm member's certificate from its fingerprint: one TLS handshake whose only
/// check is that the presented certificate's public key hashes to the expected fingerprint.
/// Nothing is sent over that connection (no request, no token); it is closed right after the
/// handshake. HTTP clients then trust exactly the certificate learned (see
/// ``PinnedCertificates``).
public enum CertificateProbe {
    /// Why a member's certificate could not be learned.
    public enum Failure: Error, CustomStringConvertible, Sendable, Equatable {
        /// The member presented a certificate with another fingerprint.
        case mismatch(endpoint: String, expected: [CertificateFingerprint], found: CertificateFingerprint)
        /// No TLS handshake: refused, closed, not TLS, or too slow.
        case unreachable(endpoint: String, reason: String)

        public var description: String {
            switch self {
            case let .mismatch(endpoint, expected, found):
                "\(endpoint) presented a certificate with fingerprint \(found), but \(expected.map(\.description).joined(separator: " or ")) was expected: "
                    + "check the fingerprint (`ddl tracker` prints its own; peers register theirs), or someone is intercepting the connection"
            case let .unreachable(endpoint, reason):
                "no TLS handshake with \(endpoint) (\(reason))"
            }
        }
    }

    /// The certificate `host:port` presents, if its public key hashes to one of `fingerprints`.
    public static func certificate(
        host: String, port: Int, expecting fingerprints: [CertificateFingerprint], timeout: TimeAmount = .seconds(5)
    ) async throws(Failure) -> NIOSSLCertificate {
        let endpoint = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let result = eventLoop.makePromise(of: NIOSSLCertificate.self)
        let timer = eventLoop.scheduleTask(in: timeout) { result.fail(Failure.unreachable(endpoint: endpoint, reason: "no handshake within \(timeout.nanoseconds / 1_000_000_000) s")) }
        defer { timer.cancel() }
        do {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv13
            let context = try NIOSSLContext(configuration: configuration)
            let bootstrap = ClientBootstrap(group: eventLoop)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let tls = try NIOSSLClientHandler(context: context, serverHostname: nil) { certificates, verdict in
                            guard let leaf = certificates.first, let found = try? TLSIdentity.fingerprint(of: leaf) else {
                                result.fail(Failure.unreachable(endpoint: endpoint, reason: "it presented no usable certificate"))
                                verdict.succeed(.failed)
                                return
                            }
                            if fingerprints.contains(found) {
                                result.succeed(leaf)
                                verdict.succeed(.certificateVerified)
                            } else {
                                result.fail(Failure.mismatch(endpoint: endpoint, expected: fingerprints, found: found))
                                verdict.succeed(.failed)
                            }
                        }
                        try channel.pipeline.syncOperations.addHandler(tls)
                        try channel.pipeline.syncOperations.addHandler(EndWatcher(result: result, endpoint: endpoint))
                    }
                }
            let channel = try await bootstrap.connect(host: host, port: port).get()
            defer { channel.close(promise: nil) }
            return try await result.futureResult.get()
        } catch let failure as Failure {
            throw failure
        } catch {
            result.fail(error)
            throw .unreachable(endpoint: endpoint, reason: String(describing: error))
        }
    }

    /// Fails the probe when the connection ends or errors before the certificate was seen.
    private final class EndWatcher: ChannelInboundHandler, Sendable {
        typealias InboundIn = NIOAny
        let result: EventLoopPromise<NIOSSLCertificate>
        let endpoint: String

        init(result: EventLoopPromise<NIOSSLCertificate>, endpoint: String) {
            self.result = result
            self.endpoint = endpoint
        }

        func channelInactive(context: ChannelHandlerContext) {
            result.fail(Failure.unreachable(endpoint: endpoint, reason: "the connection closed during the TLS handshake"))
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            result.fail(Failure.unreachable(endpoint: endpoint, reason: String(describing: error)))
            context.close(promise: nil)
        }
    }
}
