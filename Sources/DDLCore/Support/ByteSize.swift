/// Byte counts written the way people write them: `4MiB`, `16M`, `512k`, `1G`, `1048576`.
/// Binary units (powers of 1024) for both the `Ki`/`Mi` and the short `K`/`M` spellings.
public enum ByteSize {
    /// Parses a size; returns `nil` for anything malformed, negative or overflowing.
    public static func parse(_ text: String) -> Int64? {
        let s = text.trimmingWhitespace()
        let digits = s.prefix(while: { $0.isASCII && $0.isNumber })
        guard !digits.isEmpty, let value = Int64(digits) else { return nil }
        let unit = s.dropFirst(digits.count).trimmingWhitespace().lowercased()
        let shift: Int64
        switch unit {
        case "", "b": shift = 0
        case "k", "kb", "kib": shift = 10
        case "m", "mb", "mib": shift = 20
        case "g", "gb", "gib": shift = 30
        case "t", "tb", "tib": shift = 40
        default: return nil
        }
        let (result, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? nil : result
    }

    /// Formats a byte count with a binary unit, e.g. `256.0 MiB`.
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var i = 0
        while value >= 1024 && i < units.count - 1 { value /= 1024; i += 1 }
        return i == 0 ? "\(bytes) B" : "\(value.formatted(decimals: 1)) \(units[i])"
    }

    /// Formats a rate in bytes per second as `MiB/s` and `Mbit/s`.
    public static func formatRate(_ bytesPerSecond: Double) -> String {
        "\((bytesPerSecond / 1_048_576).formatted(decimals: 1)) MiB/s"
    }
}

extension Double {
    /// Fixed-point formatting without Foundation.
    public func formatted(decimals: Int) -> String {
        guard isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (self * scale).rounded()
        let negative = scaled < 0
        let whole = Int64(abs(scaled))
        let intPart = whole / Int64(scale)
        let frac = whole % Int64(scale)
        var fracText = String(frac)
        while fracText.count < decimals { fracText = "0" + fracText }
        return (negative ? "-" : "") + String(intPart) + (decimals > 0 ? "." + fracText : "")
    }
}
