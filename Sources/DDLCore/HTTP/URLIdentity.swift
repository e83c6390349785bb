import Foundation

/// What a URL names for caching and piece ownership: the URL without the parts that sign it.
///
/// Object stores hand out *presigned* URLs whose query carries a signature and an expiry.
/// Signed again (later, or for another user), the same object gets another URL; keyed by the
/// whole URL, a peer's cache would miss and clients would give its pieces to different
/// owners. The identity leaves out:
///
/// - the signing parameters of AWS SigV4 and SigV2, Google Cloud Storage (V4 and V2) and
///   CloudFront signed URLs (``signingParameters``), with the names spelled as the providers
///   spell them; the `X-Amz-` and `X-Goog-` ones whatever their case
///   (``caseInsensitiveSigningParameters``), as those services read them;
/// - the parameters of an Azure SAS token (``azureSASParameters``), only when the query
///   carries its signature `sig` (without it, `sv` or `sp` are the site's own parameters);
/// - the names given in `ignoring` (config key `cache_key_ignore_params`), exactly as given;
/// - user info (`user:password@`, a credential too) and the fragment (never sent).
///
/// Every other parameter stays, in its order and spelling: it may select other bytes. The
/// bytes are still fetched with the URL the client gave, and the identity is always used
/// with the file's strong validator, so that two objects meet under one key only with the
/// same path, the same other parameters and the same `ETag` (or `Last-Modified`).
package struct URLIdentity: Sendable, Hashable {
    /// The URL without signing parameters, user info and fragment.
    package let url: String
    /// Whether a query parameter or user info was left out: the URL carried something that
    /// may be a credential, so the identity alone must not grant access to the bytes.
    package let leftOutCredentials: Bool

    /// The identity of `url`, leaving out the parameters named in `ignoring` too.
    package init(_ url: String, ignoring: [String] = []) {
        var rest = Substring(url)
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var query: Substring?
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var leftOut = false
        // User info: between "://" and the end of the authority, anything up to the last "@".
        if let scheme = rest.range(of: "://") {
            let authorityEnd = rest[scheme.upperBound...].firstIndex(of: "/") ?? rest.endIndex
            if let at = rest[scheme.upperBound..<authorityEnd].lastIndex(of: "@") {
                rest = rest[..<scheme.upperBound] + rest[rest.index(after: at)...]
                leftOut = true
            }
        }
        var identity = String(rest)
        if let query {
            let items = query.split(separator: "&", omittingEmptySubsequences: false)
            let names = items.map(Self.name(of:))
            let signedSAS = names.contains("sig")
            let extra = Set(ignoring)
            let kept = zip(items, names).filter { _, name in
                !(Self.signingParameters.contains(name)
                    || Self.caseInsensitiveSigningParameters.contains(name.lowercased())
                    || (signedSAS && Self.azureSASParameters.contains(name))
                    || extra.contains(name))
            }.map(\.0)
            if kept.count == items.count {
                identity += "?" + query
            } else {
                leftOut = true
                if !kept.isEmpty { identity += "?" + kept.joined(separator: "&") }
            }
        }
        self.url = identity
        self.leftOutCredentials = leftOut
    }

    /// `url` as ddl prints it in messages, logs, progress and `--json` output: its identity
    /// when it carries a signature or user info (credentials: a presigned URL's signature
    /// grants access to the object until it expires), else `url` as given.
    package static func printable(_ url: String) -> String {
        let identity = URLIdentity(url)
        return identity.leftOutCredentials ? identity.url : url
    }

    /// A query item's name, percent-decoded (`X-Amz-Signature` in `X-Amz-Signature=…`).
    static func name(of item: Substring) -> String {
        let raw = item.firstIndex(of: "=").map { item[..<$0] } ?? item
        return String(raw).removingPercentEncoding ?? String(raw)
    }
}

extension URLIdentity {
    /// Signing parameters left out as spelled: AWS SigV2 (`AWSAccessKeyId`, `Signature`,
    /// `Expires`), Google Cloud Storage V2 (`GoogleAccessId`, with `Signature` and `Expires`),
    /// CloudFront (`Expires`, `Signature`, `Key-Pair-Id`, `Policy`).
    package static let signingParameters: Set<String> = [
        "AWSAccessKeyId", "Signature", "Expires", "GoogleAccessId", "Key-Pair-Id", "Policy",
    ]

    /// Signing parameters left out whatever their case, lowercase here: AWS SigV4
    /// (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
    /// `X-Amz-SignedHeaders`, `X-Amz-Signature`, `X-Amz-Security-Token`, which SigV2 URLs of
    /// temporary credentials carry too, in lowercase) and Google Cloud Storage V4 (the same
    /// with `X-Goog-`, less the token).
    package static let caseInsensitiveSigningParameters: Set<String> = [
        "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires", "x-amz-signedheaders", "x-amz-signature",
        "x-amz-security-token",
        "x-goog-algorithm", "x-goog-credential", "x-goog-date", "x-goog-expires", "x-goog-signedheaders", "x-goog-signature",
    ]

    /// The parameters of an Azure shared access signature, left out (as spelled) only when
    /// the query carries its signature, `sig`.
    package static let azureSASParameters: Set<String> = [
        "sv", "ss", "srt", "sp", "se", "st", "spr", "sig", "sr", "si", "skoid", "sktid", "skt", "ske", "sks", "skv", "sdd",
    ]
}
