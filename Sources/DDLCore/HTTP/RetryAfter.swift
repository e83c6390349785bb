import Foundation

/// The `Retry-After` header (RFC 9110, 10.2.3): seconds, or an HTTP date.
package enum RetryAfter {
    /// The longest wait honoured.
    package static let cap: Duration = .seconds(300)

    /// How long to wait, capped at ``cap``; `nil` when absent or unreadable. A date in the
    /// past means no wait.
    package static func parse(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) {
            guard seconds >= 0 else { return nil }
            return min(.seconds(seconds), cap)
        }
        guard let date = httpDate(value) else { return nil }
        return min(.seconds(max(0, date.timeIntervalSince(now).rounded(.up))), cap)
    }

    /// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), and the obsolete RFC 850 and
    /// asctime forms that RFC 9110 still asks recipients to accept.
    static func httpDate(_ value: String) -> Date? {
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: value) { return date }
        }
        return nil
    }
}
