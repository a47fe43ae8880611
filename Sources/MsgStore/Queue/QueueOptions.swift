/// The bounds and behaviour of a ``DurableQueue``. Every bound names its unit.
public struct QueueOptions: Sendable {
    /// When an enqueue or an ack is made durable. Default ``SyncMode/always``.
    public var sync: SyncMode = .always
    /// A segment is closed and a new one started once it reaches this size. Default 8 MiB.
    public var maxSegmentBytes: Int = 8 << 20
    /// The largest payload accepted by ``DurableQueue/enqueue(_:)``. Default 1 MiB.
    public var maxPayloadBytes: Int = 1 << 20
    /// Deliveries after which an unacked message moves to the dead-letter queue. Default 5.
    public var maxAttempts: Int = 5
    /// Whether the queue has a dead-letter queue (`NAME.dlq` beside it). Default true.
    /// Without one, a message past ``maxAttempts`` is dropped (acked) instead.
    public var hasDeadLetterQueue: Bool = true
    /// The consumer state file is rewritten as one snapshot once its ack deltas pass this size. Default 1 MiB.
    public var maxConsumerStateBytes: Int = 1 << 20
    /// Payloads of unacked messages kept in memory, in bytes. Past it, a payload
    /// is read back from its segment (on the queue's thread) when delivered. Default 64 MiB.
    public var maxMemoryPayloadBytes: Int = 64 << 20
    /// The most messages one ``DurableQueue/receive(max:visibilityTimeout:waitTimeout:)`` returns. Default 1,000.
    public var maxReceiveCount: Int = 1_000
    /// With ``SyncMode/always``: zero-fill each new segment to ``maxSegmentBytes``
    /// (written and synced once, when the segment is created), so that the
    /// `fdatasync` of an enqueue flushes only data, not a new file size — as
    /// the write-ahead log does. A segment is cut back to its records when it
    /// is closed; after a crash the zero-filled tail ends the data (it is not a
    /// torn tail). Costs `maxSegmentBytes` of disk for the active segment.
    /// Default false (the dead-letter queue never preallocates).
    public var preallocateSegments: Bool = false

    /// The defaults: sync always, 8 MiB segments, 5 attempts, a dead-letter queue.
    public init() {}
}

extension QueueOptions {
    /// Bytes a new segment is zero-filled to (0: no preallocation).
    var preallocatedSegmentBytes: Int { preallocateSegments && sync == .always ? maxSegmentBytes : 0 }
}
