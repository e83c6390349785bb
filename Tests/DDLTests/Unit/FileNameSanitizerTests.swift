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
    ])
    func sanitizes(_ input: String, _ expected: String) {
        #expect(FileNameSanitizer.sanitize(input) == expected)
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
