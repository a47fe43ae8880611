import Messaging
import ServiceLifecycle

/// Releases the clients waiting for messages when the server stops: on
/// graceful shutdown (or cancellation) it shuts the ``InboxNotifier`` down,
/// so that long polls answer at once and event streams end instead of
/// holding up the drain of in-flight requests.
public struct InboxNotifierService: Service {
    /// The notifier.
    public let notifier: InboxNotifier

    /// Wraps a notifier.
    public init(notifier: InboxNotifier) {
        self.notifier = notifier
    }

    /// Waits for graceful shutdown (or cancellation), then shuts the notifier down.
    public func run() async throws {
        try? await gracefulShutdown()
        notifier.shutDown()
    }
}
