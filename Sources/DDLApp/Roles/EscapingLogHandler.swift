import DDLCore
import Logging

/// A log handler that escapes control and bidi characters (``TerminalText``) in messages
/// and metadata before the handler it wraps writes them. ddl logs to standard error, often
/// a terminal, and log lines carry what others sent: a caller's URL, an origin's answer, a
/// peer's name. None of their escape sequences may reach the operator's terminal.
public struct EscapingLogHandler: LogHandler {
    private var wrapped: any LogHandler

    public init(wrapping handler: any LogHandler) {
        self.wrapped = handler
    }

    public var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(TerminalText.escaped(event.message.description))"
        event.metadata = event.metadata.map(Self.escaped)
        wrapped.log(event: event)
    }

    /// `metadata` with every key and string escaped, recursively.
    static func escaped(_ metadata: Logger.Metadata) -> Logger.Metadata {
        Dictionary(uniqueKeysWithValues: metadata.map { (TerminalText.escaped($0.key), escaped($0.value)) })
    }

    static func escaped(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case let .string(text): .string(TerminalText.escaped(text))
        case let .stringConvertible(convertible): .string(TerminalText.escaped(convertible.description))
        case let .array(values): .array(values.map(escaped))
        case let .dictionary(dictionary): .dictionary(escaped(dictionary))
        }
    }
}
