import DDLCore
import Testing

@Suite struct ByteRangeTests {
    @Test func parsesClosedRange() {
        #expect(ByteRange.parseRangeHeader("bytes=0-99") == ByteRange(first: 0, last: 99))
        #expect(ByteRange.parseRangeHeader("bytes=5-5") == ByteRange(first: 5, last: 5))
    }

    @Test func clampsToLengthAndResolvesOpenForms() {
        #expect(ByteRange.parseRangeHeader("bytes=90-200", length: 100) == ByteRange(first: 90, last: 99))
        #expect(ByteRange.parseRangeHeader("bytes=90-", length: 100) == ByteRange(first: 90, last: 99))
        #expect(ByteRange.parseRangeHeader("bytes=-10", length: 100) == ByteRange(first: 90, last: 99))
        #expect(ByteRange.parseRangeHeader("bytes=100-", length: 100) == nil)
        #expect(ByteRange.parseRangeHeader("bytes=90-") == nil)  // open form needs a length
    }

    @Test(arguments: ["", "bytes=", "bytes=-", "bytes=5-4", "bytes=a-b", "bytes=1-2,4-5", "items=0-1", "bytes= 0-1", "bytes=+1-2",
                      "bytes=0-99999999999999999999", "bytes=-0"])
    func rejectsMalformedRange(_ header: String) {
        #expect(ByteRange.parseRangeHeader(header, length: 100) == nil)
    }

    @Test func formatsHeaders() {
        let range = ByteRange(first: 10, last: 19)
        #expect(range.count == 10)
        #expect(range.rangeHeader == "bytes=10-19")
        #expect(range.contentRangeHeader(total: 100) == "bytes 10-19/100")
        #expect(range.contentRangeHeader(total: nil) == "bytes 10-19/*")
    }

    @Test func parsesContentRange() {
        #expect(ContentRange("bytes 0-99/1000") == ContentRange(range: ByteRange(first: 0, last: 99), total: 1000))
        #expect(ContentRange("bytes 0-99/*") == ContentRange(range: ByteRange(first: 0, last: 99), total: nil))
        #expect(ContentRange("bytes */1000") == ContentRange(range: nil, total: 1000))
    }

    @Test(arguments: ["bytes 0-99", "bytes 99-0/100", "bytes 0-100/100", "bytes */*", "bytes a-b/100", "0-99/100", "bytes 0-99/x"])
    func rejectsMalformedContentRange(_ header: String) {
        #expect(ContentRange(header) == nil)
    }

    @Test func parsesSizes() {
        #expect(ByteSize.parse("4MiB") == 4 << 20)
        #expect(ByteSize.parse("16M") == 16 << 20)
        #expect(ByteSize.parse("512k") == 512 << 10)
        #expect(ByteSize.parse("1G") == 1 << 30)
        #expect(ByteSize.parse("1234") == 1234)
        #expect(ByteSize.parse("-1") == nil)
        #expect(ByteSize.parse("4 parsecs") == nil)
        #expect(ByteSize.parse("99999999999T") == nil)
    }
}
