import Configuration
import DDLApp
import DDLClient
import DDLCore
import DDLPeer
import DDLTrackerClient
import Foundation
import Testing

/// The `tracker` list (YAML string or list, comma-separated `DDL_TRACKER`, repeated flag),
/// `token_file`, and the merge of several trackers' lists.
@Suite struct TrackerAndTokenFileSettingsTests {
    func reader(flags: [String: ConfigContent] = [:], yaml: String? = nil, environment: [String: String] = [:]) async throws -> ConfigReader {
        var file: String?
        if let yaml {
            let path = try makeTemporaryDirectory() + "/ddl.yaml"
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
            file = path
        }
        return try await ConfigLoader.reader(flags: flags, configFile: file, environment: environment)
    }

    @Test func trackerIsAStringAListOrACommaSeparatedString() async throws {
        let one = try await reader(yaml: "tracker: https://a:5000\n")
        #expect(try ClientConfiguration(url: "https://x/", reader: one).trackerURLs == ["https://a:5000"])
        let list = try await reader(yaml: "tracker:\n  - https://a:5000\n  - https://b:5000\n")
        #expect(try ClientConfiguration(url: "https://x/", reader: list).trackerURLs == ["https://a:5000", "https://b:5000"])
        #expect(try PeerConfiguration(reader: list).trackerURLs == ["https://a:5000", "https://b:5000"])
        let environment = try await reader(environment: ["DDL_TRACKER": "https://a:5000, https://b:5000,,https://a:5000"])
        #expect(try PeerConfiguration(reader: environment).trackerURLs == ["https://a:5000", "https://b:5000"])
        #expect(TrackerSettings.urls(environment) == ["https://a:5000", "https://b:5000"])
        // The repeated flag wins over the environment and the file, as every flag does.
        let flags = try await reader(
            flags: ["tracker": .stringArray(["https://c:5000", "https://d:5000"])], yaml: "tracker: https://a:5000\n",
            environment: ["DDL_TRACKER": "https://b:5000"])
        #expect(try ClientConfiguration(url: "https://x/", reader: flags).trackerURLs == ["https://c:5000", "https://d:5000"])
        let empty = try await reader(yaml: "tracker: \"\"\n")
        #expect(try PeerConfiguration(reader: empty).trackerURLs.isEmpty)
    }

    /// A file holding `text` with `mode`, in a fresh directory.
    func tokenFile(_ text: String, mode: Int16 = 0o600) throws -> String {
        let path = try makeTemporaryDirectory() + "/token"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    @Test func tokenFileIsReadAndTrimmed() async throws {
        let token = SwarmToken.generate()
        let path = try tokenFile("  \(token)\n\n")
        let fromFlag = try await reader(flags: ["token_file": .string(path)])
        #expect(try SecuritySettings.token(fromFlag) == token)
        #expect(try ClientConfiguration(url: "http://x/", reader: fromFlag).token == token)
        let fromEnvironment = try await reader(environment: ["DDL_TOKEN_FILE": path])
        #expect(try PeerConfiguration(reader: fromEnvironment).token == token)
        let fromFile = try await reader(yaml: "token_file: \(path)\n")
        #expect(try SecuritySettings.token(fromFile) == token)
    }

    /// Every failure of `token_file` handling, with its message: none may hold the token.
    @Test func tokenFileProblemsAreUsageErrorsThatNeverShowTheToken() async throws {
        let token = "s3cret-" + SwarmToken.generate()
        func failure(flags: [String: ConfigContent] = [:], yaml: String? = nil, environment: [String: String] = [:]) async throws -> String {
            let reader = try await reader(flags: flags, yaml: yaml, environment: environment)
            let error = #expect(throws: ConfigLoader.Failure.self) { _ = try SecuritySettings.token(reader) }
            let text = error.map { String(describing: $0) + String(reflecting: $0) } ?? ""
            #expect(!text.contains(token), "the message shows the token: \(text)")
            #expect(!text.contains("s3cret"), "the message shows part of the token: \(text)")
            return text
        }
        let good = try tokenFile(token)
        // Both given, however each comes.
        #expect(try await failure(flags: ["token": .string(token), "token_file": .string(good)]).contains("both token and token_file are set"))
        #expect(try await failure(flags: ["token_file": .string(good)], environment: ["DDL_TOKEN": token]).contains("give only one"))
        #expect(try await failure(yaml: "token: \(token)\ntoken_file: \(good)\n").contains("give only one"))
        // Missing.
        let missing = try makeTemporaryDirectory() + "/none"
        #expect(try await failure(flags: ["token_file": .string(missing)]).contains("cannot read the token file \(missing) (no such file)"))
        // Open to other users: readable by the group, by everyone, or writable by the group.
        for mode: Int16 in [0o640, 0o644, 0o604, 0o620] {
            let open = try tokenFile(token + "\n", mode: mode)
            let text = try await failure(flags: ["token_file": .string(open)])
            #expect(text.contains("is open to other users (mode 0\(String(mode, radix: 8)))") && text.contains("chmod 600 \(open)"), "\(text)")
        }
        // Empty, not a token, not a file.
        #expect(try await failure(flags: ["token_file": .string(try tokenFile(" \n"))]).contains("is empty"))
        #expect(try await failure(flags: ["token_file": .string(try tokenFile(token + " " + token))]).contains("printable ASCII without spaces"))
        #expect(try await failure(flags: ["token_file": .string(try makeTemporaryDirectory())]).contains("is not a regular file"))
        // 0400 is as good as 0600.
        let readOnly = try tokenFile(token, mode: 0o400)
        #expect(try SecuritySettings.token(try await reader(flags: ["token_file": .string(readOnly)])) == token)
    }

    func peer(_ host: String, _ port: Int, id: String, name: String? = nil) -> TrackerAPI.Peer {
        TrackerAPI.Peer(id: id, host: host, port: port, name: name, lastSeen: "2026-01-01T00:00:00Z")
    }

    @Test func listsFromSeveralTrackersAreMergedEachPeerOnce() {
        let first = [peer("10.0.0.1", 6000, id: "a1", name: "from-first"), peer("10.0.0.2", 6000, id: "a2")]
        let second = [peer("10.0.0.2", 6001, id: "b1"), peer("10.0.0.1", 6000, id: "b2", name: "from-second"), peer("10.0.0.3", 6000, id: "b3")]
        let merged = TrackerSet.merge([first, second])
        #expect(merged.map(\.id) == ["a1", "b1", "a2", "b3"])  // in turn from each list, the first tracker's entry kept
        #expect(merged.first?.name == "from-first")
        // The same address spelled two ways is one peer.
        #expect(TrackerSet.merge([[peer("::1", 6000, id: "x")], [peer("0:0::1", 6000, id: "y")]]).count == 1)
        // A flooded list cannot push the other tracker's peers out.
        let flood = (0..<2000).map { peer("10.1.\($0 / 250).\($0 % 250)", 6000, id: "f\($0)") }
        let cut = TrackerSet.merge([flood, [peer("10.0.0.9", 6000, id: "honest")]])
        #expect(cut.count == TrackerClient.maxPeers)
        #expect(cut.contains { $0.id == "honest" })
    }
}
