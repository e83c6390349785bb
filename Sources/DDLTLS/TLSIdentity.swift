import Crypto
import DDLCore
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A swarm member's TLS certificate and private key: self-signed, made on first start and
/// kept in the state directory, so that its fingerprint (see ``CertificateFingerprint``)
/// stays the same across restarts. Nobody runs a CA: clients pin the fingerprint the tracker
/// prints (for the tracker) or lists (for each peer).
public struct TLSIdentity: Sendable, Hashable {
    /// Problems loading or making an identity, said so the user can act.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The certificate presented to clients.
    public let certificate: NIOSSLCertificate
    /// Its private key.
    public let privateKey: NIOSSLPrivateKey
    /// The SHA-256 of the certificate's public key.
    public let fingerprint: CertificateFingerprint
    /// Where it is kept, if anywhere.
    public let path: String?

    /// How long a new certificate is valid. A member renews it (same key, same fingerprint)
    /// on a start with less than ``renewalMargin`` left.
    public static let validity: TimeInterval = 825 * 86_400
    /// See ``validity``.
    public static let renewalMargin: TimeInterval = 90 * 86_400

    public static func == (lhs: TLSIdentity, rhs: TLSIdentity) -> Bool { lhs.fingerprint == rhs.fingerprint && lhs.path == rhs.path }
    public func hash(into hasher: inout Hasher) { hasher.combine(fingerprint) }

    /// A server configuration presenting this identity (TLS 1.3 only: every client is ddl,
    /// curl or a current browser).
    public var serverConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(certificate)], privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv13
        return configuration
    }

    /// The identity kept at `path` (PEM: the private key, then the certificate), made there
    /// when absent. Safe against several processes starting at once on one state directory:
    /// the first to finish writing wins and the others load its identity.
    ///
    /// - Parameters:
    ///   - path: e.g. `~/.local/state/ddl/tls/server.pem`. Its directory is created (0700);
    ///     the file is written 0600.
    ///   - commonName: the certificate's subject, e.g. `ddl tracker`.
    ///   - now: the current time (tests pass another).
    public static func loadOrCreate(at path: String, commonName: String, now: Date = Date()) throws -> TLSIdentity {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw Failure(description: "cannot create the state directory \(directory): \(error.localizedDescription); set state_dir (--state-dir) to a writable directory")
        }
        if FileManager.default.fileExists(atPath: path) {
            let loaded = try load(from: path)
            guard loaded.expires.timeIntervalSince(now) < renewalMargin else { return loaded.identity }
            // Renew: same key, so the fingerprint every join command carries stays valid.
            let pem = try makePEM(key: loaded.key, commonName: commonName, now: now)
            try store(pem, at: path, replacing: true)
            return try load(from: path).identity
        }
        let pem = try makePEM(key: P256.Signing.PrivateKey(), commonName: commonName, now: now)
        try store(pem, at: path, replacing: false)
        return try load(from: path).identity
    }

    /// The identity kept at `path`, read only: never made nor renewed (another process owns
    /// it, such as the local peer whose certificate `ddl cache` pins).
    public static func load(at path: String) throws -> TLSIdentity {
        try load(from: path).identity
    }

    /// A fresh identity kept nowhere (tests, `ddl demo`).
    public static func ephemeral(commonName: String = "ddl", now: Date = Date()) throws -> TLSIdentity {
        try parse(makePEM(key: P256.Signing.PrivateKey(), commonName: commonName, now: now), path: nil).identity
    }

    /// The SHA-256 fingerprint of `certificate`'s public key.
    public static func fingerprint(of certificate: NIOSSLCertificate) throws -> CertificateFingerprint {
        let spki = try certificate.extractPublicKey().toSPKIBytes()
        return CertificateFingerprint(digest: Array(SHA256.hash(data: spki)))!
    }

    // MARK: - Making and storing

    /// The certificate's DNS name: the common name with dashes, e.g. `ddl-tracker`.
    public static func dnsName(for commonName: String) -> String {
        String(commonName.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
    }

    static func makePEM(key: P256.Signing.PrivateKey, commonName: String, now: Date) throws -> String {
        do {
            let name = try DistinguishedName { CommonName(commonName) }
            let certificate = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: Certificate.PublicKey(key.publicKey),
                notValidBefore: now.addingTimeInterval(-3600),
                notValidAfter: now.addingTimeInterval(validity),
                issuer: name,
                subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                // No key usage extension: BoringSSL recognises a self-signed certificate as its
                // own issuer (and so as the trust anchor a pinned client gives it) only when
                // its key may sign certificates, which a key usage of digitalSignature alone
                // forbids.
                // The name `ddl-tracker` or `ddl-server` lets tools that check a host name
                // but cannot pin a key (Prometheus: `tls_config.ca_file` with this
                // certificate, `server_name: ddl-tracker`) verify it; ddl itself pins the key.
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    try ExtendedKeyUsage([.serverAuth])
                    SubjectAlternativeNames([.dnsName(dnsName(for: commonName))])
                },
                issuerPrivateKey: Certificate.PrivateKey(key)
            )
            return key.pemRepresentation + "\n" + (try certificate.serializeAsPEM().pemString) + "\n"
        } catch {
            throw Failure(description: "cannot make a TLS certificate: \(error)")
        }
    }

    /// Writes `pem` with mode 0600: through a temporary file, then `link` (fails when another
    /// process made the file first: its identity wins) or `rename` (renewal).
    static func store(_ pem: String, at path: String, replacing: Bool) throws {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        defer { unlink(temporary) }
        let bytes = Array(pem.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else { throw Failure(description: "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        if replacing {
            guard rename(temporary, path) == 0 else { throw Failure(description: "cannot replace \(path): \(String(cString: strerror(errno)))") }
        } else if link(temporary, path) != 0, errno != EEXIST {
            throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func load(from path: String) throws -> (identity: TLSIdentity, key: P256.Signing.PrivateKey, expires: Date) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw Failure(description: "cannot read \(path): \(String(cString: strerror(errno)))") }
        if info.st_mode & 0o077 != 0 {
            throw Failure(description: "\(path) holds a private key but others can read it (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 \(path)")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Failure(description: "cannot read \(path): \(error.localizedDescription)")
        }
        return try parse(text, path: path)
    }

    static func parse(_ text: String, path: String?) throws -> (identity: TLSIdentity, key: P256.Signing.PrivateKey, expires: Date) {
        let place = path ?? "the identity"
        do {
            let documents = try PEMDocument.parseMultiple(pemString: text)
            guard let keyDocument = documents.first(where: { $0.discriminator == "PRIVATE KEY" }),
                  let certificateDocument = documents.first(where: { $0.discriminator == "CERTIFICATE" })
            else {
                throw Failure(description: "\(place) must hold a PRIVATE KEY and a CERTIFICATE (PEM); remove it to make a new identity (its fingerprint changes)")
            }
            let key = try P256.Signing.PrivateKey(derRepresentation: keyDocument.derBytes)
            let parsed = try Certificate(derEncoded: certificateDocument.derBytes)
            guard parsed.publicKey == Certificate.PublicKey(key.publicKey) else {
                throw Failure(description: "the certificate in \(place) is not for its private key; remove the file to make a new identity")
            }
            let certificate = try NIOSSLCertificate(bytes: certificateDocument.derBytes, format: .der)
            let privateKey = try NIOSSLPrivateKey(bytes: Array(key.derRepresentation), format: .der)
            let identity = TLSIdentity(certificate: certificate, privateKey: privateKey, fingerprint: try fingerprint(of: certificate), path: path)
            return (identity, key, parsed.notValidAfter)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "cannot read the TLS identity in \(place): \(error); remove it to make a new one (its fingerprint changes)")
        }
    }
}
