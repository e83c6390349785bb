import DDLCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Renders download events for people (a live bar on a terminal, plain lines otherwise,
/// on standard error) or for programs (NDJSON on standard output).
public final class ConsoleObserver: DownloadObserver {
    /// Output style.
    public enum Style: Sendable {
        case bar, plain, json, quiet
    }

    let style: Style
    private let state = Mutex(State())
    private let plainInterval: Double

    struct State {
        var lastPlain: Double = -1
        var barVisible = false
        /// Whether a spot-check window nobody could settle was reported already.
        var warnedUnsettled = false
    }

    /// Picks the style from the configured mode and whether standard error is a terminal.
    public init(mode: ClientConfiguration.ProgressMode, plainInterval: Double = 5) {
        switch mode {
        case .auto: style = isatty(STDERR_FILENO) == 1 ? .bar : .plain
        case .plain: style = .plain
        case .json: style = .json
        case .quiet: style = .quiet
        }
        self.plainInterval = plainInterval
    }

    public func handle(_ event: DownloadEvent) {
        switch style {
        case .quiet: return
        case .json: emitJSON(event)
        case .bar, .plain: render(event)
        }
    }

    private func render(_ event: DownloadEvent) {
        switch event {
        case let .started(start):
            let size = start.length.map(ByteSize.format) ?? "unknown size"
            var line = "ddl: \(start.url) -> \(start.path) (\(size)"
            if let pieceSize = start.pieceSize { line += ", \(start.pieces) pieces of \(ByteSize.format(pieceSize))" }
            line += ", sources: \(start.sources.joined(separator: ", ")))"
            write(line)
        case let .notice(message):
            write("ddl: \(message)")
        case let .progress(snapshot):
            if style == .bar {
                state.withLock { $0.barVisible = true }
                writeBar(Self.bar(snapshot))
            } else {
                let due = state.withLock { state -> Bool in
                    guard state.lastPlain < 0 || snapshot.elapsedSeconds - state.lastPlain >= plainInterval else { return false }
                    state.lastPlain = snapshot.elapsedSeconds
                    return true
                }
                if due { write("ddl: " + Self.line(snapshot)) }
            }
        case let .pieceFailed(piece, source, reason):
            write("ddl: piece \(piece) failed at \(source): \(reason); retrying elsewhere")
        case let .sourceDropped(source):
            write("ddl: \(source) dropped after repeated failures")
        case let .peerBanned(source, reason, refetched):
            write("ddl: \(source) BANNED: it served wrong bytes (\(reason)); re-fetching the \(refetched) piece\(refetched == 1 ? "" : "s") it delivered")
        case let .spotCheck(report):
            // The first window nobody could settle is worth a line now; the summary counts them all.
            guard report.outcome == .inconclusive, state.withLock({ state in defer { state.warnedUnsettled = true }; return !state.warnedUnsettled })
            else { return }
            write("ddl: could not check bytes \(report.first)-\(report.last) from \(report.source): \(report.reason ?? "no referee")")
        case let .finished(summary):
            for line in Self.summaryLines(summary) { write(line) }
        }
    }

    /// The one-line progress text: percent, bytes, rate, ETA, active sources.
    static func line(_ s: ProgressSnapshot) -> String {
        var text = ""
        if let length = s.length, length > 0 {
            text += "\((Double(s.bytes) * 100 / Double(length)).formatted(decimals: 1))% \(ByteSize.format(s.bytes))/\(ByteSize.format(length))"
        } else {
            text += ByteSize.format(s.bytes)
        }
        text += "  \(ByteSize.formatRate(s.rate))"
        if let eta = s.etaSeconds { text += "  ETA \(formatDuration(eta))" }
        text += "  \(s.activeSources) source\(s.activeSources == 1 ? "" : "s") active"
        return text
    }

    static func bar(_ s: ProgressSnapshot) -> String {
        let width = 30
        let fraction = s.length.map { $0 > 0 ? min(1, Double(s.bytes) / Double($0)) : 1 } ?? 0
        let filled = Int(fraction * Double(width))
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] " + line(s)
    }

    /// The final summary: size, time, average rate, bytes per source, SHA-256.
    public static func summaryLines(_ summary: DownloadSummary) -> [String] {
        var lines = [
            "ddl: saved \(summary.path)",
            "  size     \(ByteSize.format(summary.bytes)) (\(summary.bytes) bytes)",
            "  time     \(summary.seconds.formatted(decimals: 2)) s",
            "  rate     \(ByteSize.formatRate(summary.averageRate)) (\((summary.averageRate * 8 / 1e6).formatted(decimals: 1)) Mbit/s)",
            "  mode     \(summary.mode)",
        ]
        for share in summary.sources {
            var line = "  source   \(share.source): \(ByteSize.format(share.bytes)), \(share.pieces) piece\(share.pieces == 1 ? "" : "s")"
            if share.cachedBytes > 0 { line += " (\(ByteSize.format(share.cachedBytes)) from its cache)" }
            if let checks = share.checks { line += "; " + describe(checks) }
            lines.append(line)
        }
        if summary.cachedBytes > 0 {
            lines.append("  internet \(ByteSize.format(summary.originBytes)) from the origin, \(ByteSize.format(summary.cachedBytes)) from LAN caches (internet traffic saved: \(ByteSize.format(summary.cachedBytes)))")
        }
        if let seeded = summary.seededBytes {
            lines.append("  seeding  this machine's peer serves \(ByteSize.format(seeded)) of the file to the swarm from the file itself (stored once)")
        }
        for peer in summary.banned {
            lines.append("  banned   \(peer): served wrong bytes; its pieces were fetched again")
        }
        if summary.repairedPieces > 0 {
            lines.append("  repaired \(summary.repairedPieces) piece\(summary.repairedPieces == 1 ? "" : "s") fetched again after the end check found them wrong")
        }
        switch summary.integrity {
        case let .verified(algorithm, source): lines.append("  verified \(algorithm) from \(source)")
        case .notPublished: lines.append("  digest   none published: the file could not be verified")
        case .notChecked: lines.append("  digest   not looked for (--checksum none)")
        }
        for conflict in summary.digestConflicts {
            lines.append("  WARNING  \(conflict)")
        }
        if let sha256 = summary.sha256 { lines.append("  sha256   \(sha256)") }
        return lines
    }

    /// `12 windows checked: 12 confirmed` and so on.
    static func describe(_ checks: CheckOutcomes) -> String {
        var parts = ["\(checks.confirmed) confirmed"]
        if checks.caught > 0 { parts.append("\(checks.caught) caught") }
        if checks.inconclusive > 0 { parts.append("\(checks.inconclusive) unsettled") }
        return "\(checks.checked) window\(checks.checked == 1 ? "" : "s") checked: " + parts.joined(separator: ", ")
    }

    /// The `finished` event's `verified`: `{"algorithm", "source"}`, or `null`.
    static func verifiedJSON(_ report: IntegrityReport) -> Any {
        guard case let .verified(algorithm, source) = report else { return NSNull() }
        return ["algorithm": algorithm, "source": source]
    }

    /// The `finished` event's `digest`: `verified`, `none-published` or `not-checked`.
    static func digestStatus(_ report: IntegrityReport) -> String {
        switch report {
        case .verified: "verified"
        case .notPublished: "none-published"
        case .notChecked: "not-checked"
        }
    }

    static func formatDuration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return total >= 3600 ? "\(total / 3600)h\(total / 60 % 60)m" : total >= 60 ? "\(total / 60)m\(total % 60)s" : "\(total)s"
    }

    private func write(_ line: String) {
        let clear = state.withLock { state -> Bool in
            defer { state.barVisible = false }
            return state.barVisible
        }
        // Names and reasons in the line may come from the network (a server's file name,
        // a peer's answer): no escape sequence or bidi control of theirs reaches the terminal.
        writeAll(STDERR_FILENO, (clear ? "\r\u{1B}[2K" : "") + TerminalText.escaped(line) + "\n")
    }

    private func writeBar(_ text: String) {
        writeAll(STDERR_FILENO, "\r\u{1B}[2K" + TerminalText.escaped(text))
    }

    private func emitJSON(_ event: DownloadEvent) {
        var object: [String: Any] = [:]
        switch event {
        case let .started(start):
            object = ["event": "started", "url": start.url, "path": start.path, "length": start.length as Any, "pieceSize": start.pieceSize as Any,
                      "pieces": start.pieces, "sources": start.sources, "mode": start.mode]
        case let .notice(message):
            object = ["event": "notice", "message": message]
        case let .progress(s):
            object = ["event": "progress", "bytes": s.bytes, "length": s.length as Any, "elapsed": s.elapsedSeconds, "rate": s.rate,
                      "activeSources": s.activeSources, "piecesDone": s.piecesDone, "pieces": s.pieces]
        case let .pieceFailed(piece, source, reason):
            object = ["event": "pieceFailed", "piece": piece, "source": source, "reason": reason]
        case let .sourceDropped(source):
            object = ["event": "sourceDropped", "source": source]
        case let .peerBanned(source, reason, refetched):
            object = ["event": "peerBanned", "source": source, "reason": reason, "refetched": refetched]
        case let .spotCheck(report):
            object = ["event": "spotCheck", "source": report.source, "piece": report.piece, "first": report.first, "last": report.last,
                      "referee": report.referee as Any, "outcome": report.outcome.rawValue, "reason": report.reason as Any]
        case let .finished(summary):
            object = ["event": "finished", "url": summary.url, "path": summary.path, "bytes": summary.bytes, "seconds": summary.seconds,
                      "rate": summary.averageRate, "sha256": summary.sha256 as Any, "mode": summary.mode, "banned": summary.banned,
                      "sources": summary.sources.map { share -> [String: Any] in
                          var source: [String: Any] = ["source": share.source, "bytes": share.bytes, "cachedBytes": share.cachedBytes, "pieces": share.pieces]
                          if let checks = share.checks {
                              source["checks"] = ["checked": checks.checked, "confirmed": checks.confirmed, "caught": checks.caught,
                                                  "inconclusive": checks.inconclusive]
                          }
                          return source
                      },
                      "verified": Self.verifiedJSON(summary.integrity), "digest": Self.digestStatus(summary.integrity),
                      "repairedPieces": summary.repairedPieces, "seededBytes": summary.seededBytes as Any,
                      "originBytes": summary.originBytes, "cachedBytes": summary.cachedBytes,
                      "digestConflicts": summary.digestConflicts]
        }
        object = object.mapValues { value in
            if case Optional<Any>.none = value { return NSNull() }
            return value
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        let line = String(decoding: data, as: UTF8.self) + "\n"
        state.withLock { _ in writeAll(STDOUT_FILENO, line) }
    }
}

/// Writes all of `text` to a file descriptor (standard output or error).
func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { raw in
            #if canImport(Glibc)
            Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            #elseif canImport(Musl)
            Musl.write(fd, raw.baseAddress! + offset, raw.count - offset)
            #else
            Darwin.write(fd, raw.baseAddress! + offset, raw.count - offset)
            #endif
        }
        if n <= 0 { return }
        offset += n
    }
}
