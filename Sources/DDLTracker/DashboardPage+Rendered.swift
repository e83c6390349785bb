import Crypto
import Foundation

extension DashboardPage {
    /// The page and the Content-Security-Policy that allows exactly its inline style and script.
    struct Rendered: Sendable {
        var html: String
        var contentSecurityPolicy: String
    }

    static let rendered: Rendered = {
        let html = "<!doctype html>\n<html lang=\"en\">\n<head>\n" + head + "<style>" + style + "</style>\n</head>\n<body>\n" + body
            + "<script>" + script + "</script>\n</body>\n</html>\n"
        func hash(_ text: String) -> String { "'sha256-" + Data(SHA256.hash(data: Data(text.utf8))).base64EncodedString() + "'" }
        let policy = "default-src 'none'; style-src \(hash(style)); script-src \(hash(script)); connect-src 'self'; img-src 'self' data:; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        return Rendered(html: html, contentSecurityPolicy: policy)
    }()
}
