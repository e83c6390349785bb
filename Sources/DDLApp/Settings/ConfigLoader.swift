import Configuration
import DDLCore
import Foundation
import SystemPackage

/// Builds the configuration reader for a role: command-line flags over `DDL_*` environment
/// variables over the YAML (or JSON) config file over built-in defaults.
public enum ConfigLoader {
    /// A problem with configuration, said so the user can fix it.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameters:
    ///   - flags: values given on the command line, keyed like the config file (`download_dir`).
    ///   - configFile: path of a `.yaml`/`.yml` or `.json` file, if any.
    ///   - environment: the process environment (`DDL_<KEY>` variables are read).
    public static func reader(
        flags: [String: ConfigContent],
        configFile: String?,
        environment: [String: String]
    ) async throws -> ConfigReader {
        var providers: [any ConfigProvider] = []
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, content) in flags { values[AbsoluteConfigKey([key])] = ConfigValue(content, isSecret: key == "token") }
        providers.append(InMemoryProvider(name: "flags", values: values))
        providers.append(
            EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: .specific(["DDL_TOKEN"]))
                .prefixKeys(with: "ddl"))
        if let configFile {
            do {
                if configFile.hasSuffix(".json") {
                    providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(configFile)))
                } else {
                    providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(configFile)))
                }
            } catch {
                throw Failure(description: "cannot read the config file \(configFile): \(error)")
            }
        }
        return ConfigReader(providers: providers)
    }

    /// Reads a size key (`8MiB`, `16M`, a plain number of bytes).
    static func size(_ reader: ConfigReader, _ key: ConfigKey) throws -> Int64? {
        if let text = reader.string(forKey: key) {
            guard let value = ByteSize.parse(text), value > 0 else {
                throw Failure(description: "\(key) must be a size such as 8MiB, got \(text)")
            }
            return value
        }
        if let value = reader.int(forKey: key) { return Int64(value) }
        return nil
    }

    /// Reads a duration key in seconds: a plain number, or a number with `s`, `m`, `h` or `d`
    /// (`7d`, `12h`).
    static func duration(_ reader: ConfigReader, _ key: ConfigKey) throws -> Int? {
        if let value = reader.int(forKey: key) {
            guard value > 0 else { throw Failure(description: "\(key) must be positive, got \(value)") }
            return value
        }
        guard let text = reader.string(forKey: key)?.lowercased(), !text.isEmpty else { return nil }
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var number = Substring(text)
        var unit = 1
        if let last = text.last, let factor = units[last] {
            number = text.dropLast()
            unit = factor
        }
        guard let value = Int(number), value > 0, value <= Int(Int32.max) / unit else {
            throw Failure(description: "\(key) must be a duration such as 7d, 12h, 30m or 3600, got \(text)")
        }
        return value * unit
    }

    /// Reads an integer key and checks its range.
    static func int(_ reader: ConfigReader, _ key: ConfigKey, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        let found: Int
        if let v = reader.int(forKey: key) {
            found = v
        } else if let text = reader.string(forKey: key) {
            guard let v = Int(text) else { throw Failure(description: "\(key) must be a whole number, got \(text)") }
            found = v
        } else {
            found = value
        }
        guard range.contains(found) else {
            throw Failure(description: "\(key) must be between \(range.lowerBound) and \(range.upperBound), got \(found)")
        }
        return found
    }

    /// Reads `cache_key_ignore_params` (repeatable `--cache-key-ignore-param`,
    /// `DDL_CACHE_KEY_IGNORE_PARAMS`): query parameter names left out of cache and ownership
    /// keys besides the signing ones (see `URLIdentity`). A list, or one string of
    /// comma-separated names; each is matched exactly as written.
    static func cacheKeyIgnoreParams(_ reader: ConfigReader) throws -> [String] {
        let key: ConfigKey = "cache_key_ignore_params"
        let entries = reader.stringArray(forKey: key) ?? reader.string(forKey: key).map { [$0] } ?? []
        let names = entries.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for name in names where name.contains(where: { "&=?#".contains($0) || $0.isWhitespace }) {
            throw Failure(description: "cache_key_ignore_params takes query parameter names (no &, =, ?, # or spaces), got \(name)")
        }
        return names
    }

    /// Reads a boolean key (`true`/`false`/`yes`/`no`/`1`/`0`).
    static func bool(_ reader: ConfigReader, _ key: ConfigKey, default value: Bool) throws -> Bool {
        if let v = reader.bool(forKey: key) { return v }
        guard let text = reader.string(forKey: key) else { return value }
        switch text.lowercased() {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default: throw Failure(description: "\(key) must be true or false, got \(text)")
        }
    }
}
