import DDLCore
import DDLTLS
import NIOSSL

/// A listed peer and how to talk to it: over TLS trusting only its pinned certificate, or
/// (with `--plain-http`) over plain HTTP.
package struct TrustedPeer: Sendable {
    package var peer: TrackerAPI.Peer
    /// `nil` for a plain-HTTP peer.
    package var tlsConfiguration: TLSConfiguration?
}

/// Decides which listed peers may be sent the token, before any request goes to them.
package enum PeerTrust {
    /// Learns each listed peer's certificate from the fingerprint the tracker lists (one TLS
    /// handshake each, in parallel, nothing sent). A peer whose certificate has another key,
    /// or that completes no handshake, is left out; so is a peer listed without a
    /// fingerprint (plain HTTP) unless `plainHTTP`. Keeps the list's order.
    ///
    /// - Returns: the peers to use, and why each other one was left out.
    package static func secure(
        _ peers: [TrackerAPI.Peer], pins: PinnedCertificates, plainHTTP: Bool
    ) async -> (trusted: [TrustedPeer], refused: [String]) {
        let outcomes = await withTaskGroup(of: (Int, Result<TrustedPeer, Refusal>).self) { group in
            for (index, peer) in peers.enumerated() {
                group.addTask {
                    guard let fingerprint = peer.fingerprint else {
                        if plainHTTP { return (index, .success(TrustedPeer(peer: peer, tlsConfiguration: nil))) }
                        return (index, .failure(Refusal(reason: "\(TerminalText.escaped(peer.host)):\(peer.port) serves plain HTTP (no certificate fingerprint listed; --plain-http uses such peers)")))
                    }
                    do {
                        let configuration = try await pins.clientConfiguration(host: peer.host, port: peer.port, fingerprints: [fingerprint])
                        return (index, .success(TrustedPeer(peer: peer, tlsConfiguration: configuration)))
                    } catch {
                        return (index, .failure(Refusal(reason: TerminalText.escaped(String(describing: error)))))
                    }
                }
            }
            var outcomes: [(Int, Result<TrustedPeer, Refusal>)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes.sorted { $0.0 < $1.0 }.map(\.1)
        }
        var trusted: [TrustedPeer] = []
        var refused: [String] = []
        for outcome in outcomes {
            switch outcome {
            case let .success(peer): trusted.append(peer)
            case let .failure(refusal): refused.append(refusal.reason)
            }
        }
        return (trusted, refused)
    }

    private struct Refusal: Error {
        var reason: String
    }
}
