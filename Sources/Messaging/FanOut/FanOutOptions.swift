/// How the fan-out worker runs.
public struct FanOutOptions: Sendable, Hashable {
    /// Concurrent consumers of the queue (tasks, not threads). Each waits
    /// for one durable write per batch, and under heavy load a group commit
    /// takes milliseconds, so a consumer then delivers only a few hundred
    /// messages a second: over HTTP at 256 connections (about 500 group
    /// messages a second beside 9,500 direct sends), 2 consumers left about
    /// 4,000 messages queued after 10 s, 8 about 2,300 after 8 s (both drained
    /// within seconds once the load stopped). More consumers cost memory and
    /// CPU beside the clients, though: on the benchmark's buffered ingest, 8
    /// took 70 MB more peak RSS and 13 % of the send rate. Default 2.
    public var consumers: Int
    /// Members written per atomic batch (one durable write each).
    public var membersPerBatch: Int
    /// How long a received message stays leased to one consumer before another
    /// may receive it again. The holder extends it by this much whenever a
    /// third of it has passed, before each batch, so a long fan-out keeps it.
    public var lease: Duration
    /// How long an idle consumer's receive waits (long poll) before it
    /// receives again; an enqueue wakes it at once.
    public var receiveWait: Duration
    /// The first pause after a transient failure; it doubles on each failure
    /// in a row, up to ``maxRetryBackoff``.
    public var retryBackoff: Duration
    /// The longest pause between two retries.
    public var maxRetryBackoff: Duration

    /// Creates options; the defaults suit one server process.
    public init(
        consumers: Int = 2, membersPerBatch: Int = 1000, lease: Duration = .seconds(30),
        receiveWait: Duration = .seconds(5), retryBackoff: Duration = .milliseconds(10),
        maxRetryBackoff: Duration = .seconds(5)
    ) {
        precondition(consumers >= 1 && membersPerBatch >= 1 && lease > .zero)
        self.consumers = consumers
        self.membersPerBatch = membersPerBatch
        self.lease = lease
        self.receiveWait = receiveWait
        self.retryBackoff = retryBackoff
        self.maxRetryBackoff = maxRetryBackoff
    }
}
