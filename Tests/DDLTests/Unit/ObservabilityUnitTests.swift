import DDLApp
@testable import DDLClient
import DDLCore
@testable import DDLPeer
@testable import DDLTracker
import Foundation
import Testing

@Suite struct ObservabilityUnitTests {
    @Test(arguments: [
        ("https://example.org/a/b.iso", "https://example.org/a/b.iso"),
        ("https://example.org/b.iso?X-Amz-Signature=abc&x=1", "https://example.org/b.iso"),
        ("https://example.org/b.iso#frag", "https://example.org/b.iso"),
        ("https://user:pass@example.org:8443/b.iso?q", "https://example.org:8443/b.iso"),
        ("http://example.org/a@b/c.iso", "http://example.org/a@b/c.iso"),
    ])
    func reportsLeaveCredentialsOutOfTheURL(given: String, reported: String) {
        #expect(TrackerAPI.DownloadReport.redact(given) == reported)
    }

    @Test func reportsSortSourcesByKindAndCountOriginBytes() {
        var summary = DownloadSummary(url: "https://example.org/f.iso", path: "/tmp/x/f.iso", bytes: 1000, seconds: 2, sha256: nil, mode: "swarm", sources: [])
        summary.sources = [
            .init(source: "self", bytes: 300, pieces: 1, checks: nil),
            .init(source: "peer 10.0.0.2:6000", bytes: 400, pieces: 2, checks: nil),
            .init(source: "peer 10.0.0.3:6000 via mirror.example:80", bytes: 200, pieces: 1, checks: nil),
            .init(source: "mirror mirror.example:80", bytes: 100, pieces: 1, checks: nil),
            .init(source: "peer 10.0.0.4:6000", bytes: 0, pieces: 0, checks: nil),
        ]
        let report = TrackerAPI.DownloadReport(summary: summary, givenURL: "https://example.org/f.iso?sig=1")
        #expect(report.url == "https://example.org/f.iso")
        #expect(report.file == "f.iso")
        #expect(report.result == "ok")
        #expect(report.sources.map(\.kind) == ["origin", "peer", "peer", "mirror"])
        #expect(report.originBytes == 700)

        let failed = TrackerAPI.DownloadReport(error: .changed("x"), givenURL: "https://example.org/f.iso", seconds: 1.5)
        #expect(failed.result == "integrity")
        #expect(failed.sources.isEmpty)
        #expect(TrackerAPI.DownloadReport.results.contains(TrackerAPI.DownloadReport(error: .localIO("x"), givenURL: "http://a/b", seconds: 0).result))
    }

    @Test func throughputIsSpreadOverTheBucketsItsBytesMovedIn() {
        var history = ThroughputHistory(bucketSeconds: 5, span: 60)
        let now = Date(timeIntervalSince1970: 1_000_000)  // a multiple of 5
        history.add(1000, from: now.addingTimeInterval(-10), to: now, series: .peers, now: now)
        history.add(500, from: now, to: now, series: .clients, now: now)
        history.add(1_000_000, from: now.addingTimeInterval(-3600), to: now.addingTimeInterval(-1800), series: .peers, now: now)  // too old
        let points = history.points(now: now)
        #expect(points.count == 12)
        #expect(points.last?.t == 1_000_000)
        let byStart = Dictionary(uniqueKeysWithValues: points.map { ($0.t, $0) })
        #expect(byStart[999_990]?.peers == 100)  // 500 bytes over 5 s
        #expect(byStart[999_995]?.peers == 100)
        #expect(byStart[1_000_000]?.clients == 100)
        #expect(points.reduce(0) { $0 + $1.peers } == 200)
    }

    @Test func registryReportsWhatAPeerServedBetweenTwoStatuses() async {
        let registry = PeerRegistry()
        guard case let .registered(id) = await registry.register(host: "10.0.0.1", port: 6000, name: "a", source: "10.0.0.1", status: .init(servedBytes: 100, activeFetches: 0)) else {
            Issue.record("not registered")
            return
        }
        let delta = await registry.record(.init(servedBytes: 600, activeFetches: 1), for: id)
        #expect(delta?.bytes == 500)
        let restarted = await registry.record(.init(servedBytes: 50, activeFetches: 0), for: id)
        #expect(restarted?.bytes == 50)
        #expect(await registry.record(.init(servedBytes: 1, activeFetches: 0), for: "unknown") == nil)
        let views = await registry.views(limit: 10)
        #expect(views.map(\.servedBytes) == [50])
        #expect(await registry.liveCount() == 1)
    }

    @Test func activityKeepsTheNewestReports() async {
        let activity = SwarmActivity(capacity: 2)
        for name in ["a", "b", "c"] {
            await activity.add(.init(url: "http://x/\(name)", file: name, bytes: 1, seconds: 1, result: "ok", mode: nil, sources: [], originBytes: 0), client: nil)
        }
        #expect(await activity.recent().map(\.report.file) == ["c", "b"])
        #expect(await activity.totals.downloads == 3)
        #expect(await activity.recent(limit: 1).map(\.report.file) == ["c"])
    }

    @Test func disabledPeerMetricsRecordNothing() {
        let metrics = PeerMetrics(enabled: false)
        metrics.receivedFromOrigin(1 << 20)
        metrics.served(1 << 20, from: .origin)
        metrics.served(4096, from: .cache)
        metrics.fetchFinished(startedAt: .now)
        metrics.setActiveFetches(3)
        #expect(!metrics.isEnabled)
        #expect(metrics.registry.emitToString() == "")
        let enabled = PeerMetrics()
        enabled.served(4096, from: .cache)
        #expect(enabled.registry.emitToString().contains("ddl_peer_served_bytes_total{from=\"cache\"} 4096"))
    }

    @Test func theTrackerPrintsTheDashboardLinkWithTheTokenInTheFragmentOnly() throws {
        let fingerprint = try #require(CertificateFingerprint("sha256:" + String(repeating: "ab", count: 32)))
        let generated = SecuritySettings.dashboardLines(host: "10.0.0.5", port: 5000, token: "abc+/=", generated: true, fingerprint: fingerprint)
        #expect(generated[0].hasSuffix("https://10.0.0.5:5000/#token=abc%2B%2F%3D"))
        // The browser's warning is to be checked against the key's hash, in the base64 form
        // browsers (and Chromium's --ignore-certificate-errors-spki-list) show.
        #expect(generated[1].contains(fingerprint.base64))
        let configured = SecuritySettings.dashboardLines(host: "10.0.0.5", port: 5000, token: "mine", generated: false)
        #expect(!configured.joined().contains("mine"))
        #expect(configured[0].hasSuffix("http://10.0.0.5:5000/#token=<your token>"))
        #expect(SecuritySettings.dashboardLines(host: "10.0.0.5", port: 5000, token: nil, generated: false) .first?.hasSuffix("http://10.0.0.5:5000/") == true)
    }
}
