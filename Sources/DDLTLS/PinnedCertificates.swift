import DDLCore
import Foundation
import NIOCore
import NIOSSL
import Synchronization

/// The TLS client configurations that trust exactly one swarm member each: learned once per
/// endpoint and fingerprint with a ``CertificateProbe``, then given to AsyncHTTPClient
/// requests (`HTTPClientRequest.tlsConfiguration`). One per process or download.
public final class PinnedCertificates: Sendable {
    private struct Key: Hashable {
        var host: String
        var port: Int
        var fingerprints: [CertificateFingerprint]
    }

    private let learned = Mutex<[Key: NIOSSLCertificate]>([:])
    private let timeout: TimeAmount

    /// - Parameter timeout: how long one probe may take.
    public init(timeout: TimeAmount = .seconds(5)) {
        self.timeout = timeout
    }

    /// A client configuration that accepts only the certificate `host:port` presents, if
    /// its fingerprint is one of `fingerprints` (probing it on first use).
    public func clientConfiguration(
        host: String, port: Int, fingerprints: [CertificateFingerprint]
    ) async throws(CertificateProbe.Failure) -> TLSConfiguration {
        let key = Key(host: host, port: port, fingerprints: fingerprints)
        if let certificate = learned.withLock({ $0[key] }) { return Self.clientConfiguration(trusting: certificate) }
        let certificate = try await CertificateProbe.certificate(host: host, port: port, expecting: fingerprints, timeout: timeout)
        learned.withLock { $0[key] = certificate }
        return Self.clientConfiguration(trusting: certificate)
    }

    /// ``clientConfiguration(host:port:fingerprints:)`` for the server `url` names
    /// (`https://HOST[:PORT]…`, an IPv6 host in brackets; `defaultPort` when it names none).
    public func clientConfiguration(
        forURL url: String, defaultPort: Int, fingerprints: [CertificateFingerprint]
    ) async throws(CertificateProbe.Failure) -> TLSConfiguration {
        guard let parsed = URL(string: url), parsed.scheme?.lowercased() == "https",
              let host = parsed.host?.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), !host.isEmpty
        else {
            throw .unreachable(endpoint: url, reason: "a pinned certificate needs an https:// URL with a host")
        }
        return try await clientConfiguration(host: host, port: parsed.port ?? defaultPort, fingerprints: fingerprints)
    }

    /// A client configuration that trusts `certificate` alone, whatever name it carries (the
    /// pin is the key, not a host name). Chain and validity are still checked by BoringSSL.
    public static func clientConfiguration(trusting certificate: NIOSSLCertificate) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.trustRoots = .certificates([certificate])
        configuration.certificateVerification = .noHostnameVerification
        // Closing, a client waits for the server's close_notify, by default up to 5 s. A peer
        // still writing the rest of an answer the client stopped reading (a cancelled endgame
        // copy) sends it only after that data, which the client no longer reads: `ddl get`
        // then hung 5 s after its summary, now and then. Every answer ddl reads has a length
        // it checks, so a clean TLS close adds nothing.
        configuration.shutdownTimeout = .milliseconds(250)
        return configuration
    }
}
