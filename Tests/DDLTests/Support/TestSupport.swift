import AsyncHTTPClient
import DDLClient
import DDLCore
import DDLTestOrigin
import DDLTracker
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization
import Testing

/// Runs `services` in a `ServiceGroup` while `body` runs, then shuts them down gracefully.
func withServices<T: Sendable>(_ services: [any Service], _ body: @Sendable () async throws -> T) async throws -> T {
    try await withStoppableServices(services) { _ in try await body() }
}

/// ``withServices(_:_:)``, where `body` also gets a function that shuts the services down
/// early and returns once they have stopped (a tracker that goes away mid-test).
func withStoppableServices<T: Sendable>(
    _ services: [any Service], _ body: @Sendable (_ stop: @escaping @Sendable () async throws -> Void) async throws -> T
) async throws -> T {
    let group = ServiceGroup(services: services, logger: testLogger)
    let stopped = Eventually<Bool>()
    let stop: @Sendable () async throws -> Void = {
        await group.triggerGracefulShutdown()
        _ = try await stopped.wait()
    }
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            do {
                try await group.run()
                await stopped.set(true)
            } catch {
                await stopped.set(false)
                throw error
            }
        }
        do {
            let value = try await body(stop)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return value
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "ddl.tests")
    logger.logLevel = ProcessInfo.processInfo.environment["DDL_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    return logger
}()

/// A fresh temporary directory.
func makeTemporaryDirectory() throws -> String {
    let path = TemporaryRoot.path + "/" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// One directory per test process holding every test's temporary directory, removed when
/// the process exits (a whole suite run wrote about 1 GiB of downloads that stayed behind).
/// Roots left by processes that died without exiting are removed by the next run.
enum TemporaryRoot {
    static let prefix = NSTemporaryDirectory() + "ddl-tests-"
    static let path: String = {
        removeStaleRoots()
        let path = prefix + String(getpid())
        atexit { try? FileManager.default.removeItem(atPath: TemporaryRoot.prefix + String(getpid())) }
        return path
    }()

    /// Removes the roots of test processes that are gone.
    private static func removeStaleRoots() {
        let directory = NSTemporaryDirectory()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasPrefix("ddl-tests-") {
            guard let pid = Int32(name.dropFirst("ddl-tests-".count)), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: directory + name) }
        }
    }
}

/// SHA-256 of a file, via the same code the client uses being avoided: Crypto directly.
import Crypto
func sha256(ofFile path: String) throws -> String {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

/// Polls `condition` every 20 ms for up to `seconds`; returns whether it became true.
func eventually(within seconds: Double, _ condition: @Sendable () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// An HTTP client for tests (`client`, a default one unless given), shut down after `body`.
func withHTTPClient<T: Sendable>(
    _ client: HTTPClient = HTTPClient(eventLoopGroupProvider: .singleton), _ body: @Sendable (HTTPClient) async throws -> T
) async throws -> T {
    do {
        let value = try await body(client)
        try await client.shutdown()
        return value
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// Peer addresses the tests' clients use although the LAN policy refuses them: the test
/// swarms run on loopback (an explicit opt-in, like `--allow-peer-network 127.0.0.0/8`).
let testPeerNetworks = [IPNetwork("127.0.0.0/8")!]

/// Runs `ddl preheat` of the configuration's URL with a fresh HTTP client.
func preheat(_ configuration: ClientConfiguration) async throws -> Preheater.Summary {
    try await withHTTPClient(Downloader.makeHTTPClient(configuration: configuration)) { client in
        try await Preheater(configuration: configuration, httpClient: client, logger: testLogger).run()
    }
}

/// Runs one download with the real client and a fresh HTTP client. `peerNetworks` are
/// added to the configuration's ``ClientConfiguration/allowPeerNetworks`` (pass `[]` to
/// test the default policy).
func download(
    _ configuration: ClientConfiguration, observer: RecordingObserver = RecordingObserver(), peerNetworks: [IPNetwork] = testPeerNetworks
) async throws(DownloadError) -> DownloadSummary {
    var configuration = configuration
    configuration.allowPeerNetworks += peerNetworks
    // Test swarms without TLS (a tracker the client does not pin) serve plain HTTP: use their
    // peers, as `--plain-http` would. A test that pins the tracker keeps the default, which
    // leaves plain peers out.
    if configuration.trackerFingerprints.isEmpty { configuration.plainHTTP = true }
    let client = Downloader.makeHTTPClient(configuration: configuration)
    let result: Result<DownloadSummary, DownloadError>
    do throws(DownloadError) {
        result = .success(try await Downloader(configuration: configuration, httpClient: client, logger: testLogger, observer: observer).run())
    } catch {
        result = .failure(error)
    }
    try? await client.shutdown()
    if case let .failure(error) = result {
        // What the user would have seen: why it fell back, what it retried.
        for notice in observer.notices { testLogger.warning("the failed download's notice: \(notice)", metadata: ["error": "\(error)"]) }
    }
    return try result.get()
}

/// Starts a download and cancels it (like Ctrl-C) once one of its responses is held at
/// `gate` (the origin sent every byte before the gate's offset that was asked for, and none
/// after it); then releases the gate. Records an issue when the download ended first.
func interruptDownload(_ configuration: ClientConfiguration, at gate: TestOrigin.Gate) async {
    await withTaskGroup(of: Void.self) { group in
        group.addTask {
            _ = try? await download(configuration)
            gate.release()  // ended by itself: stop waiting
        }
        let reached = await gate.reached()
        #expect(reached, "the download ended before reaching offset \(gate.offset)")
        group.cancelAll()
    }
    gate.release()
}

/// Runs a download; once one of its responses is held at `gate`, runs `atGate` and releases
/// the gate. Records an issue when the download ended without reaching the gate.
func download(
    _ configuration: ClientConfiguration, observer: RecordingObserver = RecordingObserver(),
    pausedAt gate: TestOrigin.Gate, _ atGate: @Sendable () async throws -> Void
) async throws -> Result<DownloadSummary, DownloadError> {
    try await withThrowingTaskGroup(of: Result<DownloadSummary, DownloadError>.self) { group in
        defer { gate.release() }
        group.addTask {
            defer { gate.release() }  // ended without reaching it: stop waiting
            do throws(DownloadError) {
                return .success(try await download(configuration, observer: observer))
            } catch {
                return .failure(error)
            }
        }
        if await gate.reached() {
            try await atGate()
        } else {
            Issue.record("the download ended before reaching offset \(gate.offset)")
        }
        gate.release()
        return try await group.next()!
    }
}

extension TestOrigin.Gate {
    /// ``reached()``, but gives up — releasing the gate and answering `false` — when
    /// `giveUp` returns first (say, once the process that should reach the gate has exited).
    func reached(unless giveUp: @escaping @Sendable () async -> Void) async -> Bool {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await giveUp()
                if !Task.isCancelled { self.release() }
            }
            let reached = await self.reached()
            group.cancelAll()
            return reached
        }
    }
}

/// A clock a test moves by hand, for code that takes `now: () -> ContinuousClock.Instant`.
final class ManualClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)

    /// Reads this clock.
    var now: @Sendable () -> ContinuousClock.Instant { { self.instant.withLock { $0 } } }

    func advance(by duration: Duration) { instant.withLock { $0 += duration } }
}

/// A tracker on 127.0.0.1 for tests, accepting peers on loopback (an explicit opt-in, like
/// `--allow-peer-network 127.0.0.0/8`; the default refuses them).
func loopbackTrackerConfiguration(port: Int = 0, ttlSeconds: Int = 30) -> TrackerConfiguration {
    var configuration = TrackerConfiguration(host: "127.0.0.1", port: port, ttlSeconds: ttlSeconds)
    configuration.allowPeerNetworks = testPeerNetworks
    return configuration
}

/// A free port outside Linux's ephemeral range (32768–60999): a port the kernel hands out
/// (port 0) can be taken, between a tracker's stop and its restart, by any outgoing
/// connection of the tests running beside (the peers' heartbeats open one each).
func portOutsideTheEphemeralRange() async throws -> Int {
    for _ in 0..<200 {
        let candidate = Int.random(in: 20_000..<32_000)
        if let channel = try? await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: candidate).get() {
            try await channel.close()
            return candidate
        }
    }
    throw PortFailure()
}

struct PortFailure: Error {}
