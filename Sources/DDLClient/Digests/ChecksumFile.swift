/// Reads checksum files as publishers put them next to their downloads: a listing such as
/// `SHA256SUMS` (many files, one a line) or a file for one download (`FILE.sha256`).
///
/// Lines understood:
/// - `HEX  NAME` and `HEX *NAME` (GNU `sha256sum`, text and binary mode; a line starting with
///   `\` has an escaped name, `\\` and `\n`);
/// - `SHA256 (NAME) = HEX` (BSD and `sha256sum --tag`; also `SHA512`, `MD5`, and OpenSSL's
///   `SHA2-256(NAME)= HEX`);
/// - in a single file only: `HEX` alone.
///
/// Empty lines, `#` comments and anything else (a PGP armour around a clear-signed listing,
/// an HTML page a server sends instead of a 404) are skipped. A name matches when it is the
/// file's name, also after a leading `./`; a single file may also name it with a directory
/// in front. The signature of a signed listing is not checked.
package enum ChecksumFile {
    /// One line that parsed: the algorithm (BSD lines name theirs), hex and name (`nil` for a
    /// bare digest).
    struct Entry: Equatable {
        var algorithm: ExpectedChecksum.Algorithm?
        var hex: String
        var name: String?
    }

    /// The digest `text` states for `fileName`, or `nil` when it states none, names only other
    /// files, or states two different digests for it.
    ///
    /// - Parameters:
    ///   - algorithm: the algorithm of lines that do not name theirs (the file's kind:
    ///     `SHA256SUMS`, `.sha256`…).
    ///   - single: a file for one download (`FILE.sha256`): a bare digest counts, and a name
    ///     with a directory in front matches.
    ///   - source: the checksum file's name, reported as where the digest came from.
    package static func digest(
        for fileName: String, in text: String, algorithm: ExpectedChecksum.Algorithm, single: Bool, source: String
    ) -> PublishedDigest? {
        guard !fileName.isEmpty, !text.contains("\0") else { return nil }
        let entries = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).compactMap { entry(in: $0) }
        let matching: [Entry]
        if single, entries.count == 1, entries[0].name == nil {
            matching = entries
        } else {
            matching = entries.filter { entry in
                guard let name = entry.name else { return false }
                return names(name, fileName, allowingDirectory: single)
            }
        }
        let digests = Set(matching.compactMap { entry -> PublishedDigest? in
            PublishedDigest(algorithm: entry.algorithm ?? algorithm, hexText: entry.hex, source: .sidecar(source))
        })
        // Two different digests for one name (or a line of the wrong length beside a good
        // one): nothing to trust.
        guard digests.count == 1, Set(matching.map(\.hex)).count == 1 else { return nil }
        return digests.first
    }

    /// Parses one line, or `nil` for a comment, an empty line or anything else.
    static func entry(in rawLine: Substring) -> Entry? {
        var line = rawLine.trimmingWhitespace()
        guard !line.isEmpty, !line.hasPrefix("#") else { return nil }
        var escaped = false
        if line.hasPrefix("\\") {
            escaped = true
            line = line.dropFirst()
        }
        if let bsd = bsdEntry(line) { return bsd }
        // GNU: HEX, then a space, then ' ' (text) or '*' (binary), then the name.
        let hex = line.prefix { !$0.isWhitespace }
        guard !hex.isEmpty, hex.allSatisfy(\.isHexDigit) else { return nil }
        let rest = line.dropFirst(hex.count)
        if rest.isEmpty { return Entry(algorithm: nil, hex: String(hex).lowercased(), name: nil) }
        guard rest.first == " " else { return nil }
        var name = rest.dropFirst()
        if name.first == " " || name.first == "*" { name = name.dropFirst() }
        guard !name.isEmpty else { return nil }
        return Entry(algorithm: nil, hex: String(hex).lowercased(), name: escaped ? unescape(name) : String(name))
    }

    /// `TAG (NAME) = HEX` or `TAG(NAME)= HEX`.
    private static func bsdEntry(_ line: Substring) -> Entry? {
        guard let open = line.firstIndex(of: "("), let equals = line.lastIndex(of: "=") else { return nil }
        let tag = line[..<open].trimmingWhitespace().uppercased()
        let left = line[line.index(after: open)..<equals].trimmingWhitespace()
        let hex = line[line.index(after: equals)...].trimmingWhitespace()
        guard left.hasSuffix(")"), !hex.isEmpty, hex.allSatisfy(\.isHexDigit) else { return nil }
        let algorithm: ExpectedChecksum.Algorithm
        switch tag {
        case "SHA256", "SHA2-256", "SHA-256": algorithm = .sha256
        case "SHA512", "SHA2-512", "SHA-512": algorithm = .sha512
        case "MD5": algorithm = .md5
        default: return nil
        }
        let name = left.dropLast()
        guard !name.isEmpty else { return nil }
        return Entry(algorithm: algorithm, hex: String(hex).lowercased(), name: String(name))
    }

    /// Whether `listed` names `fileName`.
    private static func names(_ listed: String, _ fileName: String, allowingDirectory: Bool) -> Bool {
        var name = Substring(listed)
        while name.hasPrefix("./") { name = name.dropFirst(2) }
        if name == fileName { return true }
        return allowingDirectory && name.split(separator: "/").last.map { $0 == fileName } == true
    }

    /// GNU coreutils' escaping of names with a backslash or a newline.
    private static func unescape(_ name: Substring) -> String {
        var out = ""
        var iterator = name.makeIterator()
        while let character = iterator.next() {
            guard character == "\\", let next = iterator.next() else {
                out.append(character)
                continue
            }
            switch next {
            case "n": out.append("\n")
            case "r": out.append("\r")
            default: out.append(next)
            }
        }
        return out
    }
}

extension Substring {
    /// Without leading and trailing whitespace (spaces, tabs, a `\r` before the newline).
    func trimmingWhitespace() -> Substring {
        var text = self
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return text
    }
}
