@testable import DDLCore
import Foundation
import Testing

@Suite struct RetryAfterTests {
    @Test func readsSecondsAndHTTPDates() throws {
        let now = try #require(RetryAfter.httpDate("Sun, 06 Nov 1994 08:49:37 GMT"))
        #expect(RetryAfter.parse("120", now: now) == .seconds(120))
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:50:07 GMT", now: now) == .seconds(30))
        // The obsolete forms RFC 9110 asks recipients to accept.
        #expect(RetryAfter.parse("Sunday, 06-Nov-94 08:50:07 GMT", now: now) == .seconds(30))
        #expect(RetryAfter.parse("Sun Nov  6 08:50:07 1994", now: now) == .seconds(30))
        // Capped like seconds; a date in the past means no wait.
        #expect(RetryAfter.parse("Mon, 07 Nov 1994 08:49:37 GMT", now: now) == RetryAfter.cap)
        #expect(RetryAfter.parse("Sat, 05 Nov 1994 08:49:37 GMT", now: now) == .zero)
        for bad in ["", "soon", "-5", "Sun, 06 Nov 1994", "1.5"] {
            #expect(RetryAfter.parse(bad, now: now) == nil, "\(bad)")
        }
    }
}
