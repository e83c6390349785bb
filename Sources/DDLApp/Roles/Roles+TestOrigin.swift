import DDLCore
import DDLTestOrigin
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

extension Roles {
    /// Runs the built-in test origin (generated content at `/files/{name}`, with Range and
    /// validators) until SIGINT/SIGTERM, for scripts that start a swarm as separate processes
    /// (`bench/dashboard-check`). Prints `ddl test-origin listening on http://HOST:PORT`.
    /// - Parameter bytesPerSecond: throttles each response, when set.
    public static func runTestOrigin(host: String, port: Int, size: Int64, bytesPerSecond: Int?, logger: Logger) async throws {
        var faults = TestOrigin.Faults()
        faults.bytesPerSecond = bytesPerSecond
        let origin = TestOrigin(length: size, faults: faults)
        let app = origin.makeApplication(host: host, port: port, logger: logger) { bound in
            announce("ddl test-origin listening on http://\(display(host)):\(bound) (\(size) bytes of generated content at /files/NAME)")
        }
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [.sigint, .sigterm], logger: logger)
        try await group.run()
    }
}
