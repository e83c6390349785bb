import DDLCore
import Testing

@Suite struct FileNameSanitizerTests {
    @Test(arguments: [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/abs/path/name.iso", "name.iso"),
        ("..\\..\\windows\\evil.exe", "evil.exe"),
        ("..", "download"),
        (".", "download"),
        ("", "download"),
        (".bashrc", "bashrc"),
        ("-rf", "rf"),
        ("a\u{0}b\nc", "abc"),
        ("what?:*.txt", "what___.txt"),
        ("invoice\u{202E}fdp.exe", "invoicefdp.exe"),  // RIGHT-TO-LEFT OVERRIDE: would display as invoiceexe.pdf
        ("a\u{2066}b\u{2067}c\u{2068}d\u{2069}e\u{200E}f\u{200F}g\u{061C}h\u{202A}i\u{202B}j\u{202C}k\u{202D}l", "abcdefghijkl"),
    ])
    func sanitizes(_ input: String, _ expected: String) {
        #expect(FileNameSanitizer.sanitize(input) == expected)
    }

    @Test func terminalTextEscapesControlsAndBidi() {
        #expect(TerminalText.escaped("peer-1") == "peer-1")
        #expect(TerminalText.escaped("évora 東京") == "évora 東京")
        #expect(TerminalText.escaped("\u{1B}[31mred\u{1B}[0m") == "\\u{1B}[31mred\\u{1B}[0m")
        #expect(TerminalText.escaped("a\u{202E}b\u{9B}c\u{7F}\n") == "a\\u{202E}b\\u{9B}c\\u{7F}\\u{A}")
        // A backslash is doubled, so a name cannot fake an escape.
        #expect(TerminalText.escaped("x\\u{1B}") == "x\\\\u{1B}")
        for scalar in ["\u{0}", "\u{1B}", "\u{7}", "\u{85}", "\u{202E}", "\u{2066}", "\u{200F}"] {
            #expect(!TerminalText.escaped("n" + scalar).unicodeScalars.contains(where: TerminalText.needsEscape))
        }
    }

    @Test func limitsLength() {
        let long = String(repeating: "x", count: 1000)
        #expect(FileNameSanitizer.sanitize(long).utf8.count == 200)
    }

    @Test func readsContentDisposition() {
        #expect(FileNameSanitizer.fileName(fromContentDisposition: "attachment; filename=\"a b.iso\"") == "a b.iso")
        #expect(FileNameSanitizer.fileName(fromContentDisposition: "attachment; filename=plain.txt") == "plain.txt")
        #expect(FileNameSanitizer.fileName(fromContentDisposition: "attachment; filename=\"x.bin\"; filename*=UTF-8''%C3%A9t%C3%A9.bin") == "été.bin")
        #expect(FileNameSanitizer.fileName(fromContentDisposition: "inline") == nil)
    }

    @Test func readsURLPath() {
        #expect(FileNameSanitizer.fileName(fromURLPath: "/pub/linux/debian%2012.iso?x=1") == "debian 12.iso")
        #expect(FileNameSanitizer.fileName(fromURLPath: "/") == nil)
    }
}
