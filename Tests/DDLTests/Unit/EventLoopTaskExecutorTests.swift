import DDLServerSupport
import NIOCore
import NIOPosix
import Testing

@Suite struct EventLoopTaskExecutorTests {
    /// The peer relies on this: with the preference set, the code before and after every
    /// suspension runs on the given loop, so its writes reach the channel synchronously.
    @Test func jobsRunOnTheEventLoopAcrossSuspensions() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loop = group.next()
        let other = group.next()
        #expect(loop !== other)
        let executor = EventLoopTaskExecutor(loop)
        let observed = try await withTaskExecutorPreference(executor) { () async throws -> [Bool] in
            var seen = [loop.inEventLoop]
            for _ in 0..<3 {
                // Resumed from another loop's thread: the continuation must come back here.
                try await other.scheduleTask(in: .milliseconds(1)) {}.futureResult.get()
                seen.append(loop.inEventLoop)
                await Task.yield()
                seen.append(loop.inEventLoop)
            }
            return seen
        }
        #expect(observed == Array(repeating: true, count: 7))
        #expect(!loop.inEventLoop)
        try await group.shutdownGracefully()
    }
}
