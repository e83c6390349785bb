import Foundation
import Configuration

/// The `tracker` setting: one or several tracker URLs.
public enum TrackerSettings {
    /// Reads `tracker` (repeatable `--tracker`, `DDL_TRACKER`): a list, or one string of
    /// comma-separated URLs. Empty entries are dropped, and so are repeats.
    public static func urls(_ reader: ConfigReader) -> [String] {
        let entries = reader.stringArray(forKey: "tracker") ?? reader.string(forKey: "tracker").map { [$0] } ?? []
        var seen: Set<String> = []
        var urls: [String] = []
        for entry in entries {
            for part in entry.split(separator: ",") {
                let url = part.trimmingCharacters(in: .whitespacesAndNewlines)
                if !url.isEmpty, seen.insert(url).inserted { urls.append(url) }
            }
        }
        return urls
    }
}
