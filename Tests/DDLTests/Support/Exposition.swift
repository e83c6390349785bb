import Foundation

/// A strict reader of the Prometheus text exposition format (0.0.4), enough to check what
/// `/metrics` serves without promtool: HELP and TYPE lines, sample syntax, label syntax.
struct Exposition {
    struct Sample: Hashable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Family {
        var name: String
        var help: String?
        var type: String?
        var samples: [Sample] = []
    }

    enum Failure: Error, CustomStringConvertible {
        case line(Int, String, String)
        var description: String {
            switch self {
            case let .line(number, text, reason): "line \(number): \(reason): \(text)"
            }
        }
    }

    private(set) var families: [String: Family] = [:]
    private(set) var order: [String] = []

    /// Parses `text`; throws on the first line that breaks the format.
    init(_ text: String) throws {
        var current: String?
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = String(line)
            if line.isEmpty { continue }
            func fail(_ reason: String) -> Failure { .line(number, line, reason) }
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let rest = line.dropFirst(7)
                guard let space = rest.firstIndex(of: " ") else { throw fail("HELP/TYPE without text") }
                let name = String(rest[..<space])
                let text = String(rest[rest.index(after: space)...])
                guard Self.isMetricName(name) else { throw fail("bad metric name") }
                if families[name] == nil {
                    families[name] = Family(name: name)
                    order.append(name)
                } else if current != name {
                    throw fail("metadata of a family whose samples already ended")
                }
                if line.hasPrefix("# HELP ") {
                    guard families[name]!.help == nil else { throw fail("second HELP") }
                    families[name]!.help = text
                } else {
                    guard families[name]!.type == nil else { throw fail("second TYPE") }
                    guard families[name]!.samples.isEmpty else { throw fail("TYPE after samples") }
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(text) else { throw fail("unknown type") }
                    families[name]!.type = text
                }
                current = name
                continue
            }
            if line.hasPrefix("#") { continue }
            let sample = try Self.parseSample(line, fail: fail)
            let family = Self.family(of: sample.name, in: families)
            guard let family else { throw fail("sample without HELP/TYPE") }
            guard family == current else { throw fail("sample not grouped with its family") }
            if families[family]!.samples.contains(where: { $0.name == sample.name && $0.labels == sample.labels }) {
                throw fail("duplicate series")
            }
            families[family]!.samples.append(sample)
        }
    }

    /// The value of the series `name` with exactly `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        guard let family = Self.family(of: name, in: families) else { return nil }
        return families[family]?.samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// Every series of `name`.
    func samples(_ name: String) -> [Sample] {
        guard let family = Self.family(of: name, in: families) else { return [] }
        return families[family]?.samples.filter { $0.name == name } ?? []
    }

    static func family(of sampleName: String, in families: [String: Family]) -> String? {
        if families[sampleName] != nil { return sampleName }
        for suffix in ["_bucket", "_sum", "_count"] where sampleName.hasSuffix(suffix) {
            let base = String(sampleName.dropLast(suffix.count))
            if families[base]?.type == "histogram" || families[base]?.type == "summary" { return base }
        }
        return nil
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == ":" }
    }

    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    static func parseSample(_ line: String, fail: (String) -> Failure) throws -> Sample {
        var rest = Substring(line)
        let nameEnd = rest.firstIndex(where: { $0 == "{" || $0 == " " }) ?? rest.endIndex
        let name = String(rest[..<nameEnd])
        guard isMetricName(name) else { throw fail("bad metric name") }
        rest = rest[nameEnd...]
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                guard let equals = rest.firstIndex(of: "=") else { throw fail("label without =") }
                let label = String(rest[..<equals])
                guard isLabelName(label), labels[label] == nil else { throw fail("bad or repeated label name \(label)") }
                rest = rest[rest.index(after: equals)...]
                guard rest.first == "\"" else { throw fail("unquoted label value") }
                rest = rest.dropFirst()
                var value = ""
                while true {
                    guard let character = rest.first else { throw fail("unterminated label value") }
                    rest = rest.dropFirst()
                    if character == "\"" { break }
                    if character == "\\" {
                        guard let escaped = rest.first, ["\\", "\"", "n"].contains(escaped) else { throw fail("bad escape") }
                        rest = rest.dropFirst()
                        value.append(escaped == "n" ? "\n" : escaped)
                    } else {
                        value.append(character)
                    }
                }
                labels[label] = value
                if rest.first == "," { rest = rest.dropFirst() } else if rest.first != "}" { throw fail("expected , or }") }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw fail("no space before the value") }
        let fields = rest.dropFirst().split(separator: " ")
        guard (1...2).contains(fields.count), let value = Self.number(String(fields[0])) else { throw fail("bad value") }
        if fields.count == 2, Int64(fields[1]) == nil { throw fail("bad timestamp") }
        return Sample(name: name, labels: labels, value: value)
    }

    static func number(_ text: String) -> Double? {
        switch text {
        case "+Inf": .infinity
        case "-Inf": -.infinity
        case "NaN": .nan
        default: Double(text)
        }
    }

    /// The conventions ddl keeps on top of the format: every family has HELP and TYPE, is
    /// named `ddl_…` in snake case, counters end in `_total`, nothing else does, durations
    /// are `_seconds`, byte counts `_bytes`…, and histograms are cumulative and complete.
    func conventionViolations() -> [String] {
        var problems: [String] = []
        for name in order {
            let family = families[name]!
            if family.help?.isEmpty ?? true { problems.append("\(name): no HELP") }
            guard let type = family.type else {
                problems.append("\(name): no TYPE")
                continue
            }
            if !name.hasPrefix("ddl_") || name != name.lowercased() { problems.append("\(name): not ddl_ snake case") }
            if (type == "counter") != name.hasSuffix("_total") { problems.append("\(name): a \(type) \(type == "counter" ? "must" : "must not") end in _total") }
            if name.contains("bytes") && !(name.hasSuffix("_bytes") || name.hasSuffix("_bytes_total")) { problems.append("\(name): bytes not as the unit suffix") }
            if type == "histogram" {
                if !name.hasSuffix("_seconds") && !name.hasSuffix("_bytes") { problems.append("\(name): histogram without a base unit") }
                let buckets = family.samples.filter { $0.name == name + "_bucket" }
                let bounds = buckets.compactMap { $0.labels["le"].flatMap(Self.number) }
                if bounds != bounds.sorted() || bounds.last != .infinity { problems.append("\(name): buckets not ascending up to +Inf") }
                let counts = buckets.map(\.value)
                if counts != counts.sorted() { problems.append("\(name): buckets not cumulative") }
                if value(name + "_count") != counts.last { problems.append("\(name): _count differs from the +Inf bucket") }
                if value(name + "_sum") == nil { problems.append("\(name): no _sum") }
            }
            if family.samples.isEmpty { problems.append("\(name): no sample") }
        }
        return problems
    }
}
