/// Turns untrusted file names (from `Content-Disposition` or a URL path) into a safe name
/// for a single directory entry: no path separators, no `.`/`..`, no control characters,
/// no bidirectional controls (U+202E would make `gpj.exe` display as `exe.jpg`), no leading
/// dots or dashes, at most 200 UTF-8 bytes.
public enum FileNameSanitizer {
    /// Name used when nothing usable is left.
    public static let fallback = "download"

    /// Returns a safe file name derived from `raw`, or ``fallback``.
    public static func sanitize(_ raw: String) -> String {
        // Keep only the last path component, whatever the separator.
        let lastComponent = raw.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        var scalars = String.UnicodeScalarView()
        for scalar in lastComponent.unicodeScalars {
            switch scalar.value {
            case 0..<0x20, 0x7F, 0x80..<0xA0: continue  // control characters
            case _ where TerminalText.isBidiControl(scalar): continue
            case 0x3A, 0x2A, 0x3F, 0x22, 0x3C, 0x3E, 0x7C: scalars.append("_")  // : * ? " < > |
            default: scalars.append(scalar)
            }
        }
        var name = String(scalars).trimmingWhitespace()
        while let first = name.first, first == "." || first == "-" { name.removeFirst() }
        while name.utf8.count > 200 { name.removeLast() }
        name = name.trimmingWhitespace()
        return name.isEmpty ? fallback : name
    }

    /// Extracts the file name from a `Content-Disposition` header value, preferring the
    /// RFC 6266 `filename*=UTF-8''…` form. Returns the raw (unsanitized) name.
    public static func fileName(fromContentDisposition value: String) -> String? {
        var plain: String?
        for part in value.split(separator: ";") {
            let item = part.trimmingWhitespace()
            guard let eq = item.firstIndex(of: "=") else { continue }
            let key = item[..<eq].trimmingWhitespace().lowercased()
            var val = item[item.index(after: eq)...].trimmingWhitespace()
            if key == "filename*" {
                // charset'lang'percent-encoded
                let pieces = val.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
                if pieces.count == 3, let decoded = String(pieces[2]).removingPercentEncodingStrict() {
                    return decoded
                }
            } else if key == "filename" {
                if val.hasPrefix("\""), val.hasSuffix("\""), val.count >= 2 {
                    val = String(val.dropFirst().dropLast()).replacingBackslashEscapes()
                }
                plain = val
            }
        }
        return plain
    }

    /// The last path component of a URL path, percent-decoded, or `nil`.
    public static func fileName(fromURLPath path: String) -> String? {
        let path = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        guard let last = path.split(separator: "/").last else { return nil }
        return String(last).removingPercentEncodingStrict() ?? String(last)
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}

extension String {
    /// Percent-decoding that fails on malformed escapes or invalid UTF-8.
    func removingPercentEncodingStrict() -> String? {
        var bytes: [UInt8] = []
        var it = utf8.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "%") {
                guard let h = it.next(), let l = it.next(), let hv = hexValue(h), let lv = hexValue(l) else { return nil }
                bytes.append(hv << 4 | lv)
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    func replacingBackslashEscapes() -> String {
        var out = ""
        var escaped = false
        for c in self {
            if escaped { out.append(c); escaped = false } else if c == "\\" { escaped = true } else { out.append(c) }
        }
        return out
    }
}

private func hexValue(_ b: UInt8) -> UInt8? {
    switch b {
    case 48...57: return b - 48
    case 65...70: return b - 55
    case 97...102: return b - 87
    default: return nil
    }
}
