import DDLCore
import DDLPeer
import DDLServerSupport
import Testing

@Suite struct AddressPolicyTests {
    @Test func parsesAndPrintsAddresses() {
        #expect(IPAddress("127.0.0.1") == .v4(0x7F00_0001))
        #expect(IPAddress("[::1]") == .v6(1))
        #expect(IPAddress("::ffff:127.0.0.1") == .v6(0xFFFF_7F00_0001))
        #expect(IPAddress("fe80::1")?.description == "fe80::1")
        #expect(IPAddress("10.0.0.1")?.description == "10.0.0.1")
        #expect(IPAddress("::1")?.urlHost == "[::1]")
        // Strict parsing: odd spellings are left to getaddrinfo.
        for text in ["2130706433", "0x7f.1", "127.1", "localhost", "", "1.2.3.4.5", "::g"] {
            #expect(IPAddress(text) == nil, "\(text)")
        }
    }

    @Test func parsesCIDRBlocks() throws {
        let net = try #require(IPNetwork("10.1.2.3/8"))
        #expect(net.description == "10.0.0.0/8")
        #expect(net.contains(IPAddress("10.255.0.1")!))
        #expect(!net.contains(IPAddress("11.0.0.1")!))
        #expect(!net.contains(IPAddress("::ffff:10.0.0.1")!))  // families never mix in a block
        #expect(IPNetwork("192.168.1.7")?.description == "192.168.1.7/32")
        #expect(IPNetwork(" 0.0.0.0/0 ")?.contains(IPAddress("8.8.8.8")!) == true)
        let v6 = try #require(IPNetwork("fd00::/8"))
        #expect(v6.contains(IPAddress("fdab::1")!))
        #expect(!v6.contains(IPAddress("fe80::1")!))
        #expect(IPNetwork("::/0")?.contains(IPAddress("2001:4860::8888")!) == true)
        for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/a", "10/8", "fd00::/129", "example.com/8", ""] {
            #expect(IPNetwork(bad) == nil, "\(bad)")
        }
        #expect(try AddressPolicy.parseNetworks(["10.0.0.0/8, 192.168.0.0/16", "fd00::/8"]).count == 3)
        #expect(throws: AddressPolicy.InvalidNetwork.self) { try AddressPolicy.parseNetworks(["10.0.0.0/8,nope"]) }
    }

    @Test(arguments: [
        ("127.0.0.1", "loopback"), ("127.1.2.3", "loopback"), ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"),
        ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("172.31.255.255", "private"), ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"), ("100.64.0.1", "CGNAT"), ("100.127.255.255", "CGNAT"),
        ("192.0.0.8", "IETF"), ("192.0.2.1", "documentation"), ("198.51.100.1", "documentation"), ("203.0.113.9", "documentation"),
        ("198.18.0.1", "benchmarking"), ("198.19.255.255", "benchmarking"), ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"), ("255.255.255.255", "broadcast"),
        ("::", "unspecified"), ("::1", "loopback"), ("fe80::1", "link-local"), ("fc00::1", "unique-local"), ("fd12:3456::1", "unique-local"),
        ("ff02::1", "multicast"), ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "loopback (as IPv4-mapped IPv6)"), ("::ffff:169.254.169.254", "link-local (as IPv4-mapped IPv6)"),
        ("::127.0.0.1", "loopback (as IPv4-compatible IPv6)"), ("64:ff9b::10.0.0.1", "private (RFC 1918) (as NAT64 IPv6)"),
        ("64:ff9b::7f00:1", "loopback (as NAT64 IPv6)"), ("2002:7f00:1::1", "loopback (as 6to4 IPv6)"),
    ])
    func refusesSpecialPurposeAddresses(_ text: String, _ rule: String) throws {
        let address = try #require(IPAddress(text))
        let refusal = try #require(AddressPolicy().check(address), "\(text) should be refused")
        #expect(refusal.rule.contains(rule), "\(text): \(refusal.rule)")
        // The suggested block lets the address through.
        #expect(AddressPolicy(allowNetworks: [refusal.network]).check(address) == nil, "\(text) via \(refusal.network)")
    }

    @Test(arguments: ["8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.0", "172.32.0.1", "192.169.0.1", "198.20.0.1",
                      "223.255.255.255", "2001:4860:4860::8888", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"])
    func allowsPublicAddresses(_ text: String) throws {
        #expect(AddressPolicy().check(try #require(IPAddress(text))) == nil, "\(text)")
    }

    @Test func allowListOpensOnlyItsBlock() throws {
        let policy = AddressPolicy(allowNetworks: [IPNetwork("127.0.0.2/32")!, IPNetwork("192.168.1.0/24")!])
        #expect(policy.check(IPAddress("127.0.0.2")!) == nil)
        #expect(policy.check(IPAddress("::ffff:127.0.0.2")!) == nil)  // the mapped form of an allowed address
        #expect(policy.check(IPAddress("127.0.0.1")!) != nil)
        #expect(policy.check(IPAddress("192.168.1.200")!) == nil)
        #expect(policy.check(IPAddress("192.168.2.1")!) != nil)
        #expect(policy.check(IPAddress("::1")!) != nil)
        let refusal = try #require(AddressPolicy().check(IPAddress("127.0.0.1")!))
        #expect(refusal.description == "127.0.0.1 is loopback; allow it with --allow-network 127.0.0.0/8")
    }

    @Test(arguments: [
        ("::ffff:0:127.0.0.1", "IPv4-translated"), ("::ffff:0:808:808", "IPv4-translated"),  // SIIT, whatever it embeds
        ("2001::1", "IETF protocol assignments"), ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),  // Teredo 2001::/32
        ("2001:1ff::1", "IETF protocol assignments"), ("2001:10::1", "IETF protocol assignments"),
        ("3fff::1", "documentation"), ("3fff:fff::1", "documentation"),
        ("5f00::1", "segment routing"), ("5f00:ffff::1", "segment routing"),
        ("4000::1", "not global unicast"), ("::2:0:0:1", "not global unicast"), ("1::1", "not global unicast"),
        ("8000::1", "not global unicast"), ("e000::1", "not global unicast"),
    ])
    func refusesWhatIsNotGlobalUnicast(_ text: String, _ rule: String) throws {
        let address = try #require(IPAddress(text))
        let refusal = try #require(AddressPolicy().check(address), "\(text) should be refused")
        #expect(refusal.rule.contains(rule), "\(text): \(refusal.rule)")
    }

    @Test func allowNetworkMatchesOnlyWhatItNames() throws {
        let policy = AddressPolicy(allowNetworks: [IPNetwork("127.0.0.5/32")!])
        #expect(policy.check(IPAddress("127.0.0.5")!) == nil)
        #expect(policy.check(IPAddress("::ffff:127.0.0.5")!) == nil)  // the same IPv4 connection
        for other in ["64:ff9b::127.0.0.5", "::127.0.0.5", "2002:7f00:5::1", "::ffff:0:127.0.0.5", "127.0.0.6"] {
            #expect(policy.check(IPAddress(other)!) != nil, "\(other) passed an allow-list naming only 127.0.0.5")
        }
        // An embedded form is opened by naming its own IPv6 block, which the refusal suggests.
        let nat64 = try #require(AddressPolicy().check(IPAddress("64:ff9b::127.0.0.5")!))
        #expect(nat64.network.description == "64:ff9b::7f00:0/104")
        #expect(AddressPolicy(allowNetworks: [nat64.network]).check(IPAddress("64:ff9b::127.0.0.5")!) == nil)
        #expect(AddressPolicy(allowNetworks: [nat64.network]).check(IPAddress("127.0.0.5")!) != nil)
    }

    @Test func theLANPolicyAllowsPrivateUnicastAndNothingLocal() throws {
        let lan = AddressPolicy(scope: .lan)
        for text in ["10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "198.18.0.1", "fd00::1", "fc12::1", "8.8.8.8",
                     "2606:4700::1111", "::ffff:192.168.1.1"] {
            #expect(lan.check(IPAddress(text)!) == nil, "\(text)")
        }
        for text in ["127.0.0.1", "169.254.169.254", "0.0.0.0", "224.0.0.1", "255.255.255.255", "240.0.0.1", "192.0.2.1", "::1", "::",
                     "fe80::1", "ff02::1", "2001:db8::1", "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe", "::ffff:0:10.0.0.1", "2001::1", "5f00::1"] {
            let refusal = try #require(lan.check(IPAddress(text)!), "\(text) should be refused on a LAN")
            #expect(refusal.description.contains("--allow-peer-network"))
        }
        #expect(AddressPolicy(allowNetworks: [IPNetwork("127.0.0.0/8")!], scope: .lan).check(IPAddress("127.0.0.1")!) == nil)
    }

    @Test func tokensAreRandomAndComparedExactly() {
        let a = SwarmToken.generate()
        let b = SwarmToken.generate()
        #expect(a != b)
        #expect(a.utf8.count == 43)
        #expect(a.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(SwarmToken.problem(with: a) == nil)
        // Never looks like an option on a command line (`--token -abc`).
        for _ in 0..<500 {
            let token = SwarmToken.generate()
            #expect(token.first != "-" && token.first != "_")
        }
        #expect(SwarmToken.problem(with: "") != nil)
        #expect(SwarmToken.problem(with: "has space") != nil)
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2]))
    }
}
