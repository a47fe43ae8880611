import Messaging
import ServiceLifecycle

/// Runs a ``FanOutWorker`` as a service: on graceful shutdown the worker stops
/// after its current batch.
public struct FanOutService: Service {
    /// The worker.
    public let worker: FanOutWorker

    /// Wraps a worker.
    public init(worker: FanOutWorker) {
        self.worker = worker
    }

    /// Runs until graceful shutdown or cancellation.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await worker.run()
        } onGracefulShutdown: {
            worker.stop()
        }
    }
}
