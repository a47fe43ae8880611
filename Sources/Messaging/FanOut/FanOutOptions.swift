/// How the fan-out worker runs.
public struct FanOutOptions: Sendable, Hashable {
    /// Concurrent consumers of the queue.
    public var consumers: Int
    /// Members written per atomic batch.
    public var membersPerBatch: Int
    /// How long a received message stays leased to one consumer before another
    /// may receive it again (a crashed or stuck consumer's messages come back).
    public var lease: Duration
    /// How long an idle consumer waits before polling again when not woken.
    public var idlePollInterval: Duration

    /// Creates options; the defaults suit one server process.
    public init(
        consumers: Int = 2, membersPerBatch: Int = 100,
        lease: Duration = .seconds(30), idlePollInterval: Duration = .milliseconds(250)
    ) {
        precondition(consumers >= 1 && membersPerBatch >= 1)
        self.consumers = consumers
        self.membersPerBatch = membersPerBatch
        self.lease = lease
        self.idlePollInterval = idlePollInterval
    }
}
