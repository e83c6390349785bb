import NIOCore

/// Runs a task's jobs on one event loop (`withTaskExecutorPreference`).
///
/// The peer forwards an origin response to its caller with `ResponseBodyWriter.write`. From a
/// thread that is not the connection's event loop, each write is queued to that loop and
/// returns at once; the channel's writability, which is what stops the writer, only changes
/// once the loop has run the queued writes. While the loop's thread waits for a CPU, the
/// forwarding task kept pulling chunks from the origin and queueing them: the peer's heap
/// rose by several MiB for a few milliseconds (heaptrack: up to ~75 receive buffers of
/// 64 KiB alive at once). On the connection's own loop, each write reaches the channel
/// before the next chunk is pulled, so the writability bounds what is in flight.
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop the jobs run on.
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
