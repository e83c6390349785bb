import Configuration
import DDLApp
import DDLCore
import DDLClient
import DDLPeer
import DDLTracker
import Foundation
import Testing

@Suite struct SecuritySettingsTests {
    func yaml(_ text: String) throws -> String {
        let path = try makeTemporaryDirectory() + "/role.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func tokenAndAllowNetworksFromFileEnvironmentAndFlags() async throws {
        let file = try yaml("token: from-file\nallow_networks:\n  - 10.0.0.0/8\n  - 192.168.1.0/24\n")
        let fromFile = try PeerConfiguration(reader: try await ConfigLoader.reader(flags: [:], configFile: file, environment: [:]))
        #expect(fromFile.token == "from-file")
        #expect(fromFile.allowNetworks.map(\.description) == ["10.0.0.0/8", "192.168.1.0/24"])

        let env = try await ConfigLoader.reader(flags: [:], configFile: file, environment: ["DDL_TOKEN": "from-env", "DDL_ALLOW_NETWORKS": "127.0.0.0/8,fd00::/8"])
        let fromEnv = try PeerConfiguration(reader: env)
        #expect(fromEnv.token == "from-env")
        #expect(fromEnv.allowNetworks.map(\.description) == ["127.0.0.0/8", "fd00::/8"])

        let flags = try await ConfigLoader.reader(
            flags: ["token": .string("from-flag"), "allow_networks": .stringArray(["1.2.3.4"])], configFile: file, environment: ["DDL_TOKEN": "from-env"])
        let fromFlags = try PeerConfiguration(reader: flags)
        #expect(fromFlags.token == "from-flag")
        #expect(fromFlags.allowNetworks.map(\.description) == ["1.2.3.4/32"])
        #expect(try ClientConfiguration(url: "http://x/", reader: flags).token == "from-flag")
        #expect(try TrackerConfiguration(reader: flags).token == "from-flag")

        let comma = try yaml("allow_networks: \"10.0.0.0/8, 172.16.0.0/12\"\n")
        #expect(try PeerConfiguration(reader: try await ConfigLoader.reader(flags: [:], configFile: comma, environment: [:])).allowNetworks.count == 2)
        let bad = try yaml("allow_networks: [\"10.0.0.0/8\", \"nope\"]\n")
        let badReader = try await ConfigLoader.reader(flags: [:], configFile: bad, environment: [:])
        #expect(throws: (any Error).self) { try PeerConfiguration(reader: badReader) }
    }

    @Test func secureByDefaultRules() throws {
        var none: String?
        #expect(try SecuritySettings.enforce(.tracker, token: &none, insecure: false))
        #expect(none?.utf8.count == 43)
        var given: String? = "t"
        #expect(try !SecuritySettings.enforce(.tracker, token: &given, insecure: false))
        #expect(given == "t")
        for role in [SecuritySettings.Role.server, .get, .peers] {
            var token: String?
            #expect(throws: (any Error).self) { try SecuritySettings.enforce(role, token: &token, insecure: false) }
            #expect(try !SecuritySettings.enforce(role, token: &token, insecure: true))
            #expect(token == nil)
        }
        var direct: String?
        #expect(try !SecuritySettings.enforce(.get, token: &direct, insecure: false, usesSwarm: false))
        let plain = SecuritySettings.joinInstructions(host: "127.0.0.1", port: 5000, token: "T", generated: true)
        #expect(plain.contains { $0.hasSuffix("ddl server --tracker http://127.0.0.1:5000 --plain-http --token T") })
        #expect(plain.contains { $0.hasSuffix("ddl get URL --tracker http://127.0.0.1:5000 --plain-http --token T") })
        let fingerprint = try #require(CertificateFingerprint("sha256:" + String(repeating: "0f", count: 32)))
        let lines = SecuritySettings.joinInstructions(host: "127.0.0.1", port: 5000, token: "T", generated: true, fingerprint: fingerprint)
        #expect(lines.contains { $0.hasSuffix("ddl server --tracker https://127.0.0.1:5000 --tracker-fingerprint \(fingerprint) --token T") })
        #expect(lines.contains { $0.hasSuffix("ddl get URL --tracker https://127.0.0.1:5000 --tracker-fingerprint \(fingerprint) --token T") })
        #expect(!lines.contains { $0.contains("clear text") })
    }
}
